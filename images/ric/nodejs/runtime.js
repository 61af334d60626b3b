/*
 * rtbuild Node.js runtime interface client: the invocation loop.
 *
 * Behaviour (matching the official client unless noted):
 *  - The handler gets (event, context, callback). A returned promise (any
 *    thenable) and the callback/context.succeed/fail/done all finish the
 *    invocation; whichever comes first wins and later ones are ignored.
 *  - Results are posted as JSON.stringify(result), undefined becoming null.
 *  - callback(null, result) with context.callbackWaitsForEmptyEventLoop true
 *    (the default) posts the result once the event loop is empty (Node's
 *    'beforeExit'), so work the handler left behind (timers, sockets) runs
 *    first, as Lambda documents; with false it is posted at once. Errors,
 *    resolved promises and context.succeed/fail/done are posted at once.
 *  - A handler that neither returns a promise nor calls back finishes with a
 *    null result when the event loop empties.
 *  - An uncaught exception during an invocation is posted as that
 *    invocation's error and the process exits with status 129; an unhandled
 *    rejection is posted as Runtime.UnhandledPromiseRejection and the process
 *    exits with status 128 (the official client's statuses). During init
 *    both become the init error and the process exits with status 1.
 *
 * Plain CommonJS that runs unchanged on Node.js 10, 12 and 14.
 */
'use strict';

const Errors = require('./errors.js');
const LogPatch = require('./log-patch.js');
const Context = require('./context.js');

function noop() {}

function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
}

class Runtime {
  constructor(client) {
    this.client = client;
    this.handler = null;
    this.invokeId = null; // the invocation running (or last run); null during init
    this.invocation = null; // that invocation's state
    this.exiting = false;
    this.onBeforeExit = noop;
    const self = this;
    this._beforeExit = function () {
      const f = self.onBeforeExit;
      self.onBeforeExit = noop;
      f();
    };
  }

  /** Starts the loop with the loaded handler function. */
  start(handler) {
    this.handler = handler;
    process.on('beforeExit', this._beforeExit);
    this.scheduleIteration();
  }

  scheduleIteration() {
    const self = this;
    setImmediate(function () {
      self.handleOnce().catch(function (err) {
        self.fatal('Unexpected Top Level Error', err);
      });
    });
  }

  /** Exits after a failure of the runtime itself (not of the handler). */
  fatal(what, err) {
    if (this.exiting) {
      return;
    }
    this.exiting = true;
    console.error(what, Errors.toFormatted(err));
    process.exit(1);
  }

  async handleOnce() {
    const next = await this.client.nextInvocation();
    const inv = Context.invocationHeaders(next.headers);
    if (!inv.requestId) {
      throw new Error('invocation without a Lambda-Runtime-Aws-Request-Id header');
    }
    LogPatch.setCurrentRequestId(inv.requestId);
    Context.forwardTraceId(inv);

    const self = this;
    const client = this.client;
    const id = inv.requestId;
    const state = { waitsForEmptyEventLoop: true, finished: false };
    this.invokeId = id;
    this.invocation = state;

    function scheduleNext() {
      self.scheduleIteration();
    }
    function onPostFailure(err) {
      self.fatal('Runtime API request failed', err);
    }
    function postError(err) {
      console.error('Invoke Error', Errors.toFormatted(err));
      client.postInvocationError(id, err).then(scheduleNext, onPostFailure);
    }
    function postResult(result) {
      let body;
      try {
        body = JSON.stringify(result === undefined ? null : result);
      } catch (err) {
        postError(err);
        return;
      }
      if (body === undefined) { // functions, symbols
        body = 'null';
      }
      client.postInvocationResponse(id, body).then(scheduleNext, onPostFailure);
    }
    // Only the first of callback, succeed, fail, done and the returned
    // promise counts.
    function once(fn) {
      return function () {
        if (state.finished || self.exiting) {
          return;
        }
        state.finished = true;
        self.onBeforeExit = noop;
        fn.apply(null, arguments);
      };
    }
    const done = once(function (err, result) {
      if (err !== undefined && err !== null) {
        postError(err);
      } else {
        postResult(result);
      }
    });
    const callback = once(function (err, result) {
      if (err !== undefined && err !== null) {
        postError(err);
      } else if (state.waitsForEmptyEventLoop) {
        self.onBeforeExit = function () {
          postResult(result);
        };
      } else {
        postResult(result);
      }
    });
    function succeed(result) {
      done(null, result);
    }
    function fail(err) {
      done(err === undefined || err === null ? 'handled' : err);
    }

    // Neither a promise nor a callback: a null result once the loop is empty.
    this.onBeforeExit = once(function () {
      postResult(null);
    });

    try {
      const event = JSON.parse(next.body);
      const context = Context.buildContext(inv, state, { succeed: succeed, fail: fail, done: done });
      const ret = this.handler(event, context, callback);
      if (isThenable(ret)) {
        ret.then(succeed, fail);
      }
    } catch (err) {
      fail(err);
    }
  }

  /**
   * Reports a failure outside the handler's own flow (uncaught exception,
   * unhandled rejection) and exits: as the running invocation's error, or as
   * the init error before the first invocation.
   */
  crash(err, status) {
    if (this.exiting) {
      console.error('Further error while exiting', Errors.toFormatted(err));
      return;
    }
    if (this.invokeId === null) {
      this.initError(err);
      return;
    }
    this.exiting = true;
    if (this.invocation) {
      this.invocation.finished = true;
    }
    this.onBeforeExit = noop;
    function exit() {
      process.exit(status);
    }
    this.client.postInvocationError(this.invokeId, err).then(exit, exit);
  }

  /** Posts the init error and exits with status 1 (Lambda does not retry in-process). */
  initError(err) {
    if (this.exiting) {
      return;
    }
    this.exiting = true;
    console.error('Init Error', Errors.toFormatted(err));
    function exit() {
      process.exit(1);
    }
    this.client.postInitError(err).then(exit, function (postErr) {
      console.error('Runtime API request failed', Errors.toFormatted(postErr));
      exit();
    });
  }
}

module.exports = {
  Runtime: Runtime,
};
