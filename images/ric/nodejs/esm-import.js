/*
 * rtbuild Node.js runtime interface client: dynamic import() of ES modules.
 *
 * Kept in a file of its own and required only on Node.js versions whose
 * CommonJS loader supports import() (12.17+, 13.2+); Node.js 10 never loads it.
 */
'use strict';

const url = require('url');

module.exports = function importFile(file) {
  return import(url.pathToFileURL(file).href);
};
