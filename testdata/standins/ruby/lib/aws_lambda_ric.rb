# frozen_string_literal: true

# A stand-in for aws_lambda_ric, the AWS Lambda runtime interface client for
# Ruby, written for rtbuild's tests.
#
# The published gem (rubygems.org) cannot be reached from rtbuild's test
# machines, so the test world packages this one as a gem of the same name and
# serves it where the catalog expects aws_lambda_ric. It is started the same
# way (require "aws_lambda_ric/bootstrap"; Bootstrap.start, with the handler
# as the first argument) and speaks the same Runtime API, in plain Ruby with
# the standard library only (Ruby 2.5+), but implements only what rtbuild's
# tests need: handlers FILE.METHOD and FILE.CLASS.METHOD (FILE relative to
# LAMBDA_TASK_ROOT, possibly in a subdirectory) called with keyword
# arguments event: and context:, JSON results, and errors in Lambda's shape
# (errorType Function<Class> for a function error, Init<Class> for a
# failure to load the handler, reported to /runtime/init/error).

require 'json'
require 'net/http'

require_relative 'aws_lambda_ric/version'

module AwsLambdaRIC
  API_PREFIX = '/2018-06-01'
  ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type'
  LIB_DIR = File.expand_path(__dir__)

  # The Runtime API at host:port (AWS_LAMBDA_RUNTIME_API).
  class LambdaServer
    def initialize(address)
      host, _, port = address.rpartition(':')
      @host = host.delete('[]')
      @port = Integer(port)
    end

    def next_invocation
      res = request(Net::HTTP::Get.new(API_PREFIX + '/runtime/invocation/next'))
      raise "GET /runtime/invocation/next: HTTP #{res.code}: #{res.body}" unless res.code == '200'

      res
    end

    def send_response(request_id, payload)
      post("/runtime/invocation/#{request_id}/response", payload)
    end

    def send_error(request_id, doc)
      post("/runtime/invocation/#{request_id}/error", JSON.generate(doc), doc['errorType'])
    end

    def send_init_error(doc)
      post('/runtime/init/error', JSON.generate(doc), doc['errorType'])
    end

    private

    def post(path, body, error_type = nil)
      req = Net::HTTP::Post.new(API_PREFIX + path)
      req['Content-Type'] = 'application/json'
      req[ERROR_TYPE_HEADER] = error_type.to_s.gsub(/[^ -~]/, '?') if error_type
      req.body = body
      res = request(req)
      warn "aws_lambda_ric: POST #{path}: HTTP #{res.code}: #{res.body}" if res.code.to_i >= 300
      res
    end

    def request(req)
      http = Net::HTTP.new(@host, @port, nil) # no proxy, whatever the environment says
      http.read_timeout = nil # the next invocation may be long in coming
      http.start { |h| h.request(req) }
    end
  end

  # The context object handed to the handler, as aws_lambda_ric's.
  class LambdaContext
    attr_reader :aws_request_id, :invoked_function_arn, :function_name, :function_version,
                :memory_limit_in_mb, :log_group_name, :log_stream_name, :deadline_ms,
                :identity, :client_context

    def initialize(headers)
      @aws_request_id = headers['Lambda-Runtime-Aws-Request-Id']
      @invoked_function_arn = headers['Lambda-Runtime-Invoked-Function-Arn']
      @deadline_ms = headers['Lambda-Runtime-Deadline-Ms'].to_i
      @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
      @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
      @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
      @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
      @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
      @identity = json_header(headers['Lambda-Runtime-Cognito-Identity'])
      @client_context = json_header(headers['Lambda-Runtime-Client-Context'])
    end

    def get_remaining_time_in_millis # rubocop:disable Naming/AccessorMethodName
      [@deadline_ms - (Time.now.to_f * 1000).to_i, 0].max
    end

    private

    def json_header(raw)
      raw.nil? || raw.empty? ? nil : JSON.parse(raw)
    rescue JSON::ParserError
      nil
    end
  end

  # The function's handler: FILE.METHOD or FILE.CLASS.METHOD.
  class LambdaHandler
    def initialize(handler)
      parts = handler.to_s.split('.')
      case parts.size
      when 2 then @file, @method = parts
      when 3 then @file, @class_name, @method = parts
      else
        raise ArgumentError, "Invalid handler #{parts}, must be of form FILENAME.METHOD or " \
                             'FILENAME.CLASS.METHOD where FILENAME corresponds with an existing Ruby ' \
                             'source file FILENAME.rb, CLASS is an optional module/class namespace and ' \
                             'METHOD is a callable method. If using CLASS, METHOD must be a class-level method.'
      end
    end

    def load(task_root)
      require File.expand_path(@file, task_root)
    end

    def call(event:, context:)
      receiver = @class_name ? Object.const_get(@class_name) : Object.new
      receiver.__send__(@method, event: event, context: context)
    end
  end

  # The Runtime API loop.
  class LambdaRunner
    def initialize(runtime_api, task_root, handler)
      @server = LambdaServer.new(runtime_api)
      @task_root = task_root
      @handler_name = handler
    end

    def run
      $stdout.sync = true
      $stderr.sync = true
      handler = init_handler
      loop { handle(handler, @server.next_invocation) }
    end

    private

    def init_handler
      handler = LambdaHandler.new(@handler_name)
      handler.load(@task_root)
      handler
    rescue StandardError, ScriptError => e
      doc = AwsLambdaRIC.error_doc(e, 'Init')
      AwsLambdaRIC.log_error('Init error when loading handler ' + @handler_name.to_s, doc)
      @server.send_init_error(doc)
      exit(1)
    end

    def handle(handler, res)
      request_id = res['Lambda-Runtime-Aws-Request-Id']
      trace_id = res['Lambda-Runtime-Trace-Id']
      if trace_id.nil? || trace_id.empty?
        ENV.delete('_X_AMZN_TRACE_ID')
      else
        ENV['_X_AMZN_TRACE_ID'] = trace_id
      end
      begin
        body = res.body
        event = body.nil? || body.empty? ? nil : JSON.parse(body)
        result = handler.call(event: event, context: LambdaContext.new(res))
        payload = JSON.generate(result)
      rescue StandardError, ScriptError => e
        doc = AwsLambdaRIC.error_doc(e, 'Function')
        AwsLambdaRIC.log_error('Error raised from handler method', doc)
        @server.send_error(request_id, doc)
        return
      end
      @server.send_response(request_id, payload)
    end
  end

  # Lambda's error document: errorType KIND<Class>, the backtrace without
  # this client's frames.
  def self.error_doc(error, kind)
    trace = (error.backtrace || []).reject { |l| l.start_with?(LIB_DIR + '/') }
    { 'errorMessage' => error.message, 'errorType' => "#{kind}<#{error.class}>", 'stackTrace' => trace }
  end

  def self.log_error(what, doc)
    $stdout.puts(what)
    $stdout.puts(JSON.generate(doc))
  end
end
