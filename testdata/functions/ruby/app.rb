# Test handlers for rtbuild's ruby runtimes (handler app.handler).

def handler(event:, context:)
  { 'hello' => event['name'], 'runtime' => 'ruby' }
end

# Returns what the runtime handed in, for tests of the context object.
def context_info(event:, context:)
  {
    'awsRequestId' => context.aws_request_id,
    'functionName' => context.function_name,
    'memoryLimitInMB' => context.memory_limit_in_mb,
    'invokedFunctionArn' => context.invoked_function_arn,
    'remainingTimeInMillis' => context.get_remaining_time_in_millis,
    'handler' => ENV['_HANDLER'],
    'taskRoot' => ENV['LAMBDA_TASK_ROOT']
  }
end

class HelloError < StandardError; end

def fail(event:, context:)
  raise HelloError, "hello failed for #{event['name']}"
end

# The FILE.CLASS.METHOD form: app.Greeter::Formal.handler
module Greeter
  class Formal
    def self.handler(event:, context:)
      { 'hello' => "dear #{event['name']}", 'runtime' => 'ruby' }
    end
  end
end
