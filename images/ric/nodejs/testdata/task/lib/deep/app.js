'use strict';

exports.handler = async function (event) {
  return { from: 'lib/deep/app.js', event: event };
};

exports.nested = {
  handler: async function () {
    return 'lib/deep nested';
  },
};
