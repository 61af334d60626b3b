'use strict';

exports.handler = async function () {
  return {;
};
