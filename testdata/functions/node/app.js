// Test handlers for rtbuild's nodejs runtimes (handler app.handler). Plain
// CommonJS that runs on Node.js 10, 12 and 14.
'use strict';

exports.handler = async function (event, context) {
  return { hello: event.name, runtime: 'nodejs', requestId: context.awsRequestId };
};

exports.callbackHandler = function (event, context, callback) {
  callback(null, { hello: event.name, runtime: 'nodejs', callback: true });
};

class HelloError extends Error {
  constructor(message) {
    super(message);
    this.name = 'HelloError';
  }
}

exports.fail = async function (event) {
  throw new HelloError('hello failed for ' + event.name);
};
