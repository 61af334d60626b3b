/*
 * rtbuild Node.js runtime interface client: the HTTP client of the Lambda
 * Runtime API (base /2018-06-01), on the http module with a keep-alive agent.
 *
 * Plain CommonJS that runs unchanged on Node.js 10, 12 and 14.
 */
'use strict';

const http = require('http');
const Errors = require('./errors.js');

const API_BASE = '/2018-06-01';

/**
 * Splits AWS_LAMBDA_RUNTIME_API ("host:port", "[v6]:port" or "host") into a
 * host and a port.
 */
function parseAddress(address) {
  const s = String(address).trim().replace(/^https?:\/\//, '').replace(/\/+$/, '');
  let host = s;
  let port = 80;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (m) {
    host = m[1];
    if (m[2]) {
      port = parseInt(m[2], 10);
    }
  } else {
    const i = s.lastIndexOf(':');
    if (i > 0 && s.indexOf(':') === i) {
      host = s.substring(0, i);
      port = parseInt(s.substring(i + 1), 10);
    }
  }
  if (!host || !(port > 0 && port < 65536)) {
    throw new Error('invalid AWS_LAMBDA_RUNTIME_API "' + address + '": want host:port');
  }
  return { host: host, port: port };
}

class RuntimeClient {
  constructor(address) {
    const parsed = parseAddress(address);
    this.host = parsed.host;
    this.port = parsed.port;
    // Free sockets of a keep-alive agent are unref'd, so an idle connection
    // to the Runtime API never keeps the event loop (and so the
    // callbackWaitsForEmptyEventLoop logic) alive.
    this.agent = new http.Agent({ keepAlive: true });
    this.userAgent = 'rtbuild-nodejs-ric node/' + process.version;
  }

  /**
   * Sends one request and resolves with {statusCode, headers, body} (body a
   * utf-8 string) whatever the status; rejects only on transport errors.
   */
  request(method, path, headers, body) {
    const self = this;
    return new Promise(function (resolve, reject) {
      const h = { 'User-Agent': self.userAgent };
      Object.keys(headers || {}).forEach(function (k) {
        h[k] = headers[k];
      });
      let payload = null;
      if (body !== undefined && body !== null) {
        payload = Buffer.from(body, 'utf8');
        h['Content-Length'] = payload.length;
      }
      const req = http.request({
        host: self.host,
        port: self.port,
        path: API_BASE + path,
        method: method,
        headers: h,
        agent: self.agent,
      }, function (res) {
        const chunks = [];
        res.on('data', function (c) {
          chunks.push(c);
        });
        res.on('end', function () {
          resolve({
            statusCode: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (payload) {
        req.write(payload);
      }
      req.end();
    });
  }

  /**
   * GET /runtime/invocation/next. Resolves with {headers, body}; rejects when
   * the Runtime API answers anything but 200.
   */
  nextInvocation() {
    return this.request('GET', '/runtime/invocation/next').then(function (res) {
      if (res.statusCode !== 200) {
        throw new Error('GET /runtime/invocation/next: status ' + res.statusCode + ': ' + res.body);
      }
      return { headers: res.headers, body: res.body };
    });
  }

  /** POST /runtime/invocation/{id}/response with an already-serialised body. */
  postInvocationResponse(id, body) {
    return this._post('/runtime/invocation/' + encodeURIComponent(id) + '/response',
      { 'Content-Type': 'application/json' }, body);
  }

  /** POST /runtime/invocation/{id}/error for anything thrown or passed back. */
  postInvocationError(id, error) {
    return this._postError('/runtime/invocation/' + encodeURIComponent(id) + '/error', error);
  }

  /** POST /runtime/init/error. */
  postInitError(error) {
    return this._postError('/runtime/init/error', error);
  }

  _postError(path, error) {
    const doc = Errors.toRuntimeResponse(error);
    return this._post(path, {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Function-Error-Type': Errors.headerSafe(doc.errorType),
    }, JSON.stringify(doc));
  }

  _post(path, headers, body) {
    return this.request('POST', path, headers, body).then(function (res) {
      if (res.statusCode < 200 || res.statusCode > 299) {
        // The Runtime API refused the post (for example 413 for a response
        // that is too large, or 403 for an invocation that already ended).
        // Lambda reports the failure itself; the loop goes on.
        process.stderr.write('rtbuild-nodejs-ric: POST ' + path + ': status ' +
          res.statusCode + ': ' + res.body + '\n');
      }
      return res;
    });
  }
}

module.exports = {
  RuntimeClient: RuntimeClient,
  parseAddress: parseAddress,
};
