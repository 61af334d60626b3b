'use strict';

exports.handler = async function () {
  return 'from common.cjs';
};
