/*
 * rtbuild Node.js runtime interface client: Lambda-style console logging.
 *
 * Every console line becomes "<ISO time>\t<request id>\t<LEVEL>\t<message>".
 * Newlines inside a message become carriage returns so one console call stays
 * one log line, as the official client does. Before the first invocation the
 * request id is "undefined", as in Lambda. When Lambda passes a telemetry log
 * file descriptor (_LAMBDA_TELEMETRY_LOG_FD) lines are framed onto it instead.
 *
 * Plain CommonJS that runs unchanged on Node.js 10, 12 and 14.
 */
'use strict';

const fs = require('fs');
const util = require('util');

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');

function setCurrentRequestId(id) {
  global[REQUEST_ID] = id;
}

function currentRequestId() {
  return global[REQUEST_ID];
}

function formatLine(level, message) {
  return new Date().toISOString() + '\t' + currentRequestId() + '\t' + level + '\t' + message;
}

function stdoutSink(level, message) {
  process.stdout.write(formatLine(level, message).replace(/\n/g, '\r') + '\n');
}

function fdSink(fd) {
  const header = Buffer.alloc(8);
  return function (level, message) {
    const bytes = Buffer.from(formatLine(level, message) + '\n', 'utf8');
    header.writeUInt32BE(0xa55a0001, 0);
    header.writeUInt32BE(bytes.length, 4);
    fs.writeSync(fd, header);
    fs.writeSync(fd, bytes);
  };
}

function patchWith(sink) {
  function logger(level) {
    return function () {
      sink(level, util.format.apply(util, arguments));
    };
  }
  console.log = logger('INFO');
  console.info = logger('INFO');
  console.debug = logger('DEBUG');
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.trace = logger('TRACE');
  console.fatal = logger('FATAL');
}

function patchConsole() {
  const fdEnv = process.env._LAMBDA_TELEMETRY_LOG_FD;
  if (fdEnv !== undefined && fdEnv !== '') {
    const fd = parseInt(fdEnv, 10);
    delete process.env._LAMBDA_TELEMETRY_LOG_FD;
    if (fd >= 0) {
      patchWith(fdSink(fd));
      return;
    }
  }
  patchWith(stdoutSink);
}

module.exports = {
  patchConsole: patchConsole,
  setCurrentRequestId: setCurrentRequestId,
  currentRequestId: currentRequestId,
};
