/*
 * rtbuild Node.js runtime interface client: the context object and the
 * callback a handler receives.
 *
 * Plain CommonJS that runs unchanged on Node.js 10, 12 and 14.
 */
'use strict';

function headerValue(headers, name) {
  const v = headers[name.toLowerCase()];
  if (Array.isArray(v)) {
    return v.length ? v[0] : undefined;
  }
  return v === '' ? undefined : v;
}

function parseJSONHeader(value, what) {
  if (value === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(value);
  } catch (e) {
    throw new Error('Cannot parse ' + what + ' as json: ' + String(e));
  }
}

/** The per-invocation values the Runtime API sends as headers of /next. */
function invocationHeaders(headers) {
  return {
    requestId: headerValue(headers, 'Lambda-Runtime-Aws-Request-Id'),
    deadlineMs: parseInt(headerValue(headers, 'Lambda-Runtime-Deadline-Ms') || '', 10),
    functionArn: headerValue(headers, 'Lambda-Runtime-Invoked-Function-Arn'),
    traceId: headerValue(headers, 'Lambda-Runtime-Trace-Id'),
    clientContext: headerValue(headers, 'Lambda-Runtime-Client-Context'),
    cognitoIdentity: headerValue(headers, 'Lambda-Runtime-Cognito-Identity'),
  };
}

/**
 * Sets process.env._X_AMZN_TRACE_ID for the invocation, or removes it when
 * the invocation carries no trace id.
 */
function forwardTraceId(inv) {
  if (inv.traceId) {
    process.env._X_AMZN_TRACE_ID = inv.traceId;
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
}

/**
 * Builds the context object. callbacks holds succeed, fail and done; the
 * flag accessors read and write waitsForEmptyEventLoop in state. Throws when
 * the client context or identity header is not JSON (the invocation then
 * fails, as with the official client).
 */
function buildContext(inv, state, callbacks) {
  const env = process.env;
  const deadline = inv.deadlineMs;
  const context = {
    awsRequestId: inv.requestId,
    invokedFunctionArn: inv.functionArn,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJSONHeader(inv.clientContext, 'ClientContext'),
    identity: parseJSONHeader(inv.cognitoIdentity, 'CognitoIdentity'),
    getRemainingTimeInMillis: function () {
      return isNaN(deadline) ? 0 : Math.max(0, deadline - Date.now());
    },
    succeed: callbacks.succeed,
    fail: callbacks.fail,
    done: callbacks.done,
  };
  Object.defineProperty(context, 'callbackWaitsForEmptyEventLoop', {
    enumerable: true,
    configurable: true,
    get: function () {
      return state.waitsForEmptyEventLoop;
    },
    set: function (value) {
      state.waitsForEmptyEventLoop = Boolean(value);
    },
  });
  return context;
}

module.exports = {
  invocationHeaders: invocationHeaders,
  forwardTraceId: forwardTraceId,
  buildContext: buildContext,
};
