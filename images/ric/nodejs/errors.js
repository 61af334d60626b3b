/*
 * rtbuild Node.js runtime interface client: error types and the error
 * document posted to the Runtime API.
 *
 * Plain CommonJS that runs unchanged on Node.js 10, 12 and 14.
 */
'use strict';

const util = require('util');

/**
 * Base of the errors the runtime itself raises. Their name (and so the
 * errorType Lambda reports) is "Runtime.<ClassName>", as in the official
 * client.
 */
class RuntimeError extends Error {
  constructor(message) {
    super(message);
  }
}

class ImportModuleError extends RuntimeError {}
class HandlerNotFound extends RuntimeError {}
class MalformedHandlerName extends RuntimeError {}
class UserCodeSyntaxError extends RuntimeError {}
class UnhandledPromiseRejection extends RuntimeError {
  constructor(reason, promise) {
    super(safeString(reason));
    this.reason = reason;
    this.promise = promise;
  }
}

[ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError,
  UnhandledPromiseRejection].forEach(function (cls) {
  Object.defineProperty(cls.prototype, 'name', {
    value: 'Runtime.' + cls.name,
    writable: true,
    configurable: true,
    enumerable: false,
  });
});

function safeString(value) {
  try {
    return String(value);
  } catch (_e) {
    return Object.prototype.toString.call(value);
  }
}

/** Reports whether obj looks like an Error (duck typing, like the official client). */
function isError(obj) {
  return Boolean(obj &&
    typeof obj.name === 'string' && obj.name &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string' && obj.stack);
}

/**
 * Converts anything a handler threw, rejected with or passed to its callback
 * into the error document of the Runtime API:
 *   {"errorType": ..., "errorMessage": ..., "stackTrace": [lines]}
 * Errors keep their own name as errorType; any other value gets its typeof
 * ("string", "object", "number", ...) as errorType and its string form as
 * errorMessage, as the official client does.
 */
function toRuntimeResponse(error) {
  try {
    if (util.types.isNativeError(error) || isError(error)) {
      const stack = typeof error.stack === 'string' ? error.stack.split('\n') : [];
      return {
        errorType: String(error.name),
        errorMessage: String(error.message),
        stackTrace: stack,
      };
    }
    return {
      errorType: typeof error,
      errorMessage: String(error),
      stackTrace: [],
    };
  } catch (_e) {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
      stackTrace: [],
    };
  }
}

/**
 * Makes errorType usable as the value of the Lambda-Runtime-Function-Error-Type
 * header: printable ASCII only, never empty.
 */
function headerSafe(value) {
  const s = String(value).replace(/[^\x20-\x7e]/g, '').trim();
  return s || 'Unknown';
}

/** Formats an error for a log line; always starts with a tab, as in Lambda. */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(toRuntimeResponse(error));
  } catch (_e) {
    return '\t' + safeString(error);
  }
}

module.exports = {
  ImportModuleError: ImportModuleError,
  HandlerNotFound: HandlerNotFound,
  MalformedHandlerName: MalformedHandlerName,
  UserCodeSyntaxError: UserCodeSyntaxError,
  UnhandledPromiseRejection: UnhandledPromiseRejection,
  isError: isError,
  toRuntimeResponse: toRuntimeResponse,
  toFormatted: toFormatted,
  headerSafe: headerSafe,
};
