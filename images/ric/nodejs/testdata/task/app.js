// Handlers for rtbuild's Node.js runtime interface client tests. Plain
// CommonJS that runs on Node.js 10, 12 and 14.
'use strict';

class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ValidationError';
  }
}

// An async handler: the returned promise's value is the result.
exports.asyncHandler = async function (event, context) {
  console.log('async handler got', JSON.stringify(event));
  console.log('two\nlines');
  return { echo: event, requestId: context.awsRequestId };
};

// A callback handler. With event.noWait it sets
// callbackWaitsForEmptyEventLoop = false. It leaves a timer of event.timerMs
// behind and calls back at once.
exports.callbackHandler = function (event, context, callback) {
  if (event.noWait) {
    context.callbackWaitsForEmptyEventLoop = false;
  }
  const started = Date.now();
  setTimeout(function () {
    console.log('timer fired after', Date.now() - started, 'ms');
  }, event.timerMs || 0);
  callback(null, { callback: true, requestId: context.awsRequestId });
};

// Calls back and returns a promise that resolves later: the first wins.
exports.both = function (event, context, callback) {
  context.callbackWaitsForEmptyEventLoop = false;
  callback(null, 'from-callback');
  return new Promise(function (resolve) {
    setTimeout(function () { resolve('from-promise'); }, 50);
  });
};

// Returns a promise that resolves first and calls back later.
exports.promiseFirst = function (event, context, callback) {
  setTimeout(function () { callback(null, 'from-callback'); }, 50);
  return Promise.resolve('from-promise');
};

// Fails in the way event.kind says.
exports.throwing = async function (event) {
  switch (event.kind) {
    case 'sync-type':
      throw new TypeError('wrong type of thing');
    case 'string':
      throw 'a plain string';
    case 'undefined-result':
      return undefined;
    default:
      throw new ValidationError('invalid input: ' + event.kind);
  }
};

// A non-async function that throws synchronously.
exports.syncThrow = function () {
  throw new ValidationError('thrown synchronously');
};

// Passes errors to the callback and the legacy context methods.
exports.callbackError = function (event, context, callback) {
  switch (event.kind) {
    case 'object':
      return callback({ code: 42 });
    case 'fail-empty':
      return context.fail();
    case 'fail':
      return context.fail(new RangeError('failed via context.fail'));
    case 'succeed':
      return context.succeed({ via: 'succeed' });
    case 'done':
      return context.done(null, { via: 'done' });
    default:
      return callback(new Error('callback error'));
  }
};

// Neither returns a promise nor calls back: null once the event loop is empty.
exports.nothing = function () {
  setTimeout(function () {}, 20);
};

// Reports the context and the trace environment variable.
exports.context = async function (event, context) {
  return {
    awsRequestId: context.awsRequestId,
    invokedFunctionArn: context.invokedFunctionArn,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(),
    waits: context.callbackWaitsForEmptyEventLoop,
    identity: context.identity === undefined ? '<undefined>' : context.identity,
    clientContext: context.clientContext === undefined ? '<undefined>' : context.clientContext,
    traceId: process.env._X_AMZN_TRACE_ID === undefined ? '<undefined>' : process.env._X_AMZN_TRACE_ID,
    handlerEnv: process.env._HANDLER,
    taskRoot: process.env.LAMBDA_TASK_ROOT,
    runtimeAPI: process.env.AWS_LAMBDA_RUNTIME_API,
  };
};

// Throws from a timer after the handler returned: an uncaught exception.
exports.uncaught = function () {
  setTimeout(function () {
    throw new RangeError('thrown from a timer');
  }, 10);
};

// Leaves a rejected promise nobody handles.
exports.unhandled = async function () {
  Promise.reject(new Error('nobody handles me'));
  await new Promise(function (resolve) { setTimeout(resolve, 200); });
  return 'too late';
};

// A result JSON.stringify cannot serialise.
exports.circular = async function () {
  const o = {};
  o.self = o;
  return o;
};

exports.notAFunction = 42;

exports.nested = {
  deeper: {
    handler: async function () {
      return 'nested export';
    },
  },
};
