/*
 * rtbuild Node.js runtime interface client: entry point.
 *
 *   node /var/runtime/index.js HANDLER
 *
 * HANDLER ("dir/sub/file.export", relative to LAMBDA_TASK_ROOT, default
 * /var/task) is the first argument, or _HANDLER when there is none. The
 * Runtime API address comes from AWS_LAMBDA_RUNTIME_API.
 *
 * A pure-JavaScript implementation of the Lambda Runtime API client for
 * rtbuild's Node.js images (no native code, so one set of files serves every
 * architecture). Plain CommonJS that runs unchanged on Node.js 10, 12 and 14.
 */
'use strict';

const Errors = require('./errors.js');
const LogPatch = require('./log-patch.js');
const RuntimeClient = require('./rapid-client.js').RuntimeClient;
const Runtime = require('./runtime.js').Runtime;
const UserFunction = require('./user-function.js');

function main() {
  const api = process.env.AWS_LAMBDA_RUNTIME_API;
  if (!api) {
    process.stderr.write('rtbuild-nodejs-ric: AWS_LAMBDA_RUNTIME_API is not set: this program ' +
      'talks to the Lambda Runtime API and must run inside Lambda or under the Runtime ' +
      'Interface Emulator (aws-lambda-rie)\n');
    process.exit(1);
    return;
  }
  let client;
  try {
    client = new RuntimeClient(api);
  } catch (e) {
    process.stderr.write('rtbuild-nodejs-ric: ' + e.message + '\n');
    process.exit(1);
    return;
  }

  LogPatch.patchConsole();

  const runtime = new Runtime(client);
  process.on('uncaughtException', function (error) {
    console.error('Uncaught Exception', Errors.toFormatted(error));
    runtime.crash(error, 129);
  });
  process.on('unhandledRejection', function (reason, promise) {
    const error = new Errors.UnhandledPromiseRejection(reason, promise);
    if (Errors.isError(reason)) {
      // Keep the frames of where the rejection came from.
      error.stack = error.name + ': ' + error.message + '\n' +
        reason.stack.split('\n').slice(1).join('\n');
    }
    console.error('Unhandled Promise Rejection', Errors.toFormatted(error));
    runtime.crash(error, 128);
  });

  const handlerString = process.argv[2] || process.env._HANDLER || '';
  const appRoot = process.env.LAMBDA_TASK_ROOT || '/var/task';
  UserFunction.load(appRoot, handlerString).then(function (handler) {
    runtime.start(handler);
  }, function (err) {
    runtime.initError(err);
  });
}

main();
