// A handler in a subdirectory (handler lib/deep/app.handler).
'use strict';

exports.handler = async function (event, context) {
  return { hello: event.name, runtime: 'nodejs', deep: true, requestId: context.awsRequestId };
};
