/*
 * rtbuild Node.js runtime interface client: loading the handler named by the
 * handler string ("dir/sub/file.export.path") from the task root.
 *
 * The module is looked up as the official client does: relative to
 * LAMBDA_TASK_ROOT, the file itself, then <file>.js (CommonJS, or an ES module
 * when the nearest package.json says "type": "module" and Node.js supports ES
 * modules; Node.js 10 ignores "type", as node itself does), <file>.mjs (ES
 * module), <file>.cjs (CommonJS), and finally Node's own resolution from the
 * task root (node_modules). ES modules load through dynamic import(), which
 * only Node.js 12.17+/13.2+ support; on older versions an ES module handler is
 * an init error (Runtime.ImportModuleError) that says so.
 *
 * Plain CommonJS that runs unchanged on Node.js 10, 12 and 14.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const Errors = require('./errors.js');

const FUNCTION_EXPR = /^([^.]+)\.(.+)$/;

/** Reports whether this Node.js supports import() of ES modules from CommonJS. */
function supportsESM(version) {
  const m = /^v?(\d+)\.(\d+)/.exec(version || process.version);
  if (!m) {
    return false;
  }
  const major = parseInt(m[1], 10);
  const minor = parseInt(m[2], 10);
  return major > 13 || (major === 13 && minor >= 2) || (major === 12 && minor >= 17);
}

function isFile(p) {
  try {
    return fs.statSync(p).isFile();
  } catch (_e) {
    return false;
  }
}

/**
 * Splits "dir/sub/file.a.b" into ["dir/sub/", "file.a.b"].
 */
function moduleRootAndHandler(fullHandler) {
  const i = fullHandler.lastIndexOf('/');
  return [fullHandler.substring(0, i + 1), fullHandler.substring(i + 1)];
}

/** Splits "file.a.b" into ["file", "a.b"]. */
function splitHandlerString(handler) {
  const match = FUNCTION_EXPR.exec(handler);
  if (!match) {
    throw new Errors.MalformedHandlerName('Bad handler');
  }
  return [match[1], match[2]];
}

function resolveHandler(object, nestedProperty) {
  return nestedProperty.split('.').reduce(function (nested, key) {
    return nested === undefined || nested === null ? undefined : nested[key];
  }, object);
}

/**
 * Reports whether the nearest package.json above folder has "type": "module"
 * (stopping at node_modules and /), which makes .js files ES modules.
 */
function hasPackageJsonTypeModule(folder) {
  for (;;) {
    if (path.basename(folder) === 'node_modules') {
      return false;
    }
    const pj = path.join(folder, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
        return Boolean(pkg && pkg.type === 'module');
      } catch (e) {
        console.warn(pj + ' cannot be read, it will be ignored for ES module detection purposes.', e);
        return false;
      }
    }
    const parent = path.dirname(folder);
    if (parent === folder) {
      return false;
    }
    folder = parent;
  }
}

function importESM(file) {
  if (!supportsESM()) {
    throw new Errors.ImportModuleError(file + ' is an ES module, and Node.js ' +
      process.version + ' cannot load ES modules; use CommonJS (.js or .cjs) or Node.js 12.17 or later');
  }
  return require('./esm-import.js')(file);
}

async function tryRequire(appRoot, moduleRoot, moduleName) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, moduleName);

  // The file named exactly (no extension added) is loaded with require.
  if (fs.existsSync(lambdaStylePath)) {
    return require(lambdaStylePath);
  }

  const esm = supportsESM();
  const typeModule = esm && hasPackageJsonTypeModule(path.dirname(lambdaStylePath));
  if (isFile(lambdaStylePath + '.js')) {
    return typeModule ? importESM(lambdaStylePath + '.js') : require(lambdaStylePath + '.js');
  }
  if (isFile(lambdaStylePath + '.mjs')) {
    return importESM(lambdaStylePath + '.mjs');
  }
  if (isFile(lambdaStylePath + '.cjs')) {
    return require(lambdaStylePath + '.cjs');
  }

  // Node's own resolution (node_modules, directories), relative to the task
  // root rather than to this file.
  const nodeStylePath = require.resolve(moduleName, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] });
  return require(nodeStylePath);
}

async function loadUserApp(appRoot, moduleRoot, moduleName) {
  try {
    return await tryRequire(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new Errors.UserCodeSyntaxError(String(e));
    }
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new Errors.ImportModuleError(String(e));
    }
    throw e;
  }
}

/**
 * Loads the handler function. Resolves with the function; rejects with
 * Runtime.MalformedHandlerName, Runtime.ImportModuleError,
 * Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound, or whatever the
 * user's module threw while loading.
 */
async function load(appRoot, fullHandler) {
  if (!fullHandler) {
    throw new Errors.MalformedHandlerName('No handler specified: pass it as the first argument or set _HANDLER');
  }
  if (fullHandler.indexOf('..') !== -1) {
    throw new Errors.MalformedHandlerName("'" + fullHandler +
      "' is not a valid handler name. Use absolute paths when specifying root directories in handler names.");
  }
  const parts = moduleRootAndHandler(fullHandler);
  const names = splitHandlerString(parts[1]);
  const userApp = await loadUserApp(appRoot, parts[0], names[0]);
  const handler = resolveHandler(userApp, names[1]);
  if (handler === undefined || handler === null) {
    throw new Errors.HandlerNotFound(fullHandler + ' is undefined or not exported');
  }
  if (typeof handler !== 'function') {
    throw new Errors.HandlerNotFound(fullHandler + ' is not a function');
  }
  return handler;
}

module.exports = {
  load: load,
  supportsESM: supportsESM,
};
