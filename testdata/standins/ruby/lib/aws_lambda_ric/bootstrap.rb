# frozen_string_literal: true

# Bootstrap.start runs the Runtime API loop with the handler given as the
# first argument (else _HANDLER), as aws_lambda_ric's bootstrap does:
#   ruby -e 'require "aws_lambda_ric/bootstrap"; Bootstrap.start' HANDLER

require_relative '../aws_lambda_ric'

class Bootstrap
  def self.start
    handler = ARGV[0] || ENV['_HANDLER']
    abort('aws_lambda_ric: no handler: pass it as the first argument or in _HANDLER') if handler.nil? || handler.empty?
    api = ENV['AWS_LAMBDA_RUNTIME_API']
    abort('aws_lambda_ric: AWS_LAMBDA_RUNTIME_API is not set') if api.nil? || api.empty?
    task_root = ENV['LAMBDA_TASK_ROOT']
    task_root = Dir.pwd if task_root.nil? || task_root.empty?
    AwsLambdaRIC::LambdaRunner.new(api, task_root, handler).run
  end
end
