package nodejsric_test

// These tests run the client on real Node.js binaries against a fake Runtime
// API (httptest) that records every request, to check what the emulator does
// not show: the exact Lambda-Runtime-Function-Error-Type header, the
// _X_AMZN_TRACE_ID hand-over (the emulator never sends
// Lambda-Runtime-Trace-Id), exit statuses, and handler loading corner cases.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeInvocation struct {
	id      string
	event   string
	headers map[string]string
}

type recordedPost struct {
	path   string
	header http.Header
	body   []byte
}

// fakeAPI serves GET /runtime/invocation/next from a queue (blocking when it
// is empty) and records every POST.
type fakeAPI struct {
	srv   *httptest.Server
	queue chan fakeInvocation
	posts chan recordedPost
	stop  chan struct{}

	mu        sync.Mutex
	userAgent string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		queue: make(chan fakeInvocation, 64),
		posts: make(chan recordedPost, 64),
		stop:  make(chan struct{}),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.stop)
		f.srv.Close()
	})
	return f
}

func (f *fakeAPI) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.userAgent = r.Header.Get("User-Agent")
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
		select {
		case inv := <-f.queue:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:fake")
			h.Set("Content-Type", "application/json")
			for k, v := range inv.headers {
				h.Set(k, v)
			}
			io.WriteString(w, inv.event)
		case <-r.Context().Done():
		case <-f.stop:
		}
	case r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		f.posts <- recordedPost{path: r.URL.Path, header: r.Header.Clone(), body: body}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"OK"}`)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

func (f *fakeAPI) enqueue(id, event string, headers ...string) {
	inv := fakeInvocation{id: id, event: event, headers: map[string]string{}}
	for i := 0; i+1 < len(headers); i += 2 {
		inv.headers[headers[i]] = headers[i+1]
	}
	f.queue <- inv
}

// next returns the next POST the client made.
func (f *fakeAPI) next(t *testing.T, c *nodeProc) recordedPost {
	t.Helper()
	select {
	case p := <-f.posts:
		return p
	case <-time.After(20 * time.Second):
		t.Fatalf("no request from the client within 20s; its output:\n%s", c.out.String())
		return recordedPost{}
	}
}

// expectNoPost checks that the client posts nothing more for a while.
func (f *fakeAPI) expectNoPost(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case p := <-f.posts:
		t.Errorf("unexpected POST %s: %s", p.path, p.body)
	case <-time.After(d):
	}
}

// nodeProc is the client running under plain node, outside any emulator.
type nodeProc struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	err    error
}

func startClient(t *testing.T, node, runtimeDir, task, api, handler string, env ...string) *nodeProc {
	t.Helper()
	args := []string{filepath.Join(runtimeDir, "index.js")}
	if handler != "" {
		args = append(args, handler)
	}
	c := &nodeProc{out: &lockedBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(node, args...)
	c.cmd.Dir = task
	c.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LAMBDA_TASK_ROOT=" + task}, env...)
	if api != "" {
		c.cmd.Env = append(c.cmd.Env, "AWS_LAMBDA_RUNTIME_API="+api)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("client output:\n%s", c.out.String())
		}
	})
	return c
}

// exitCode waits for the client to exit and returns its status.
func (c *nodeProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("client still running after 20s:\n%s", c.out.String())
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		t.Fatalf("client: %v", c.err)
	}
	return 0
}

func checkErrorPost(t *testing.T, p recordedPost, path, errorType, message string) errorDoc {
	t.Helper()
	if p.path != path {
		t.Fatalf("POST %s (%s), want %s", p.path, p.body, path)
	}
	if got := p.header.Values("Lambda-Runtime-Function-Error-Type"); len(got) != 1 || got[0] != errorType {
		t.Errorf("%s: Lambda-Runtime-Function-Error-Type = %q, want exactly %q", path, got, errorType)
	}
	if ct := p.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	d := decodeErrorDoc(t, p.body)
	if d.ErrorType != errorType {
		t.Errorf("%s: errorType %q, want %q", path, d.ErrorType, errorType)
	}
	if message != "" && d.ErrorMessage != message {
		t.Errorf("%s: errorMessage %q, want %q", path, d.ErrorMessage, message)
	}
	return d
}

func checkResponsePost(t *testing.T, p recordedPost, id, want string) {
	t.Helper()
	if p.path != "/2018-06-01/runtime/invocation/"+id+"/response" {
		t.Fatalf("POST %s (%s), want the response of %s", p.path, p.body, id)
	}
	if string(p.body) != want {
		t.Errorf("response of %s = %s, want %s", id, p.body, want)
	}
}

func TestAgainstFakeAPI(t *testing.T) {
	requireLinuxAMD64(t)
	for _, version := range nodeVersions {
		t.Run("node"+version, func(t *testing.T) {
			node := nodeBinary(t, version)
			runtimeDir := installClient(t)
			task := taskRoot(t)
			inv := func(id string) string { return "/2018-06-01/runtime/invocation/" + id }

			t.Run("error-shape-and-header", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.throwing")
				api.enqueue("id-1", `{"kind":"validation"}`)
				d := checkErrorPost(t, api.next(t, c), inv("id-1")+"/error", "ValidationError", "invalid input: validation")
				if len(d.StackTrace) == 0 || d.StackTrace[0] != "ValidationError: invalid input: validation" {
					t.Errorf("stackTrace %q", d.StackTrace)
				}
				api.enqueue("id-2", `{"kind":"sync-type"}`)
				checkErrorPost(t, api.next(t, c), inv("id-2")+"/error", "TypeError", "wrong type of thing")
				api.enqueue("id-3", `{"kind":"string"}`)
				checkErrorPost(t, api.next(t, c), inv("id-3")+"/error", "string", "a plain string")
				api.enqueue("id-4", `{"kind":"undefined-result"}`)
				checkResponsePost(t, api.next(t, c), "id-4", "null")
				// An event that is not JSON fails the invocation, not the runtime.
				api.enqueue("id-5", `{not json`)
				checkErrorPost(t, api.next(t, c), inv("id-5")+"/error", "SyntaxError", "")
				api.mu.Lock()
				ua := api.userAgent
				api.mu.Unlock()
				if !strings.HasPrefix(ua, "rtbuild-nodejs-ric node/v"+version) {
					t.Errorf("User-Agent %q", ua)
				}
			})

			t.Run("sync-throw", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.syncThrow")
				api.enqueue("s-1", `{}`)
				checkErrorPost(t, api.next(t, c), inv("s-1")+"/error", "ValidationError", "thrown synchronously")
			})

			t.Run("callback-errors-and-legacy-context", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.callbackError")
				api.enqueue("c-1", `{"kind":"object"}`)
				checkErrorPost(t, api.next(t, c), inv("c-1")+"/error", "object", "[object Object]")
				api.enqueue("c-2", `{"kind":"fail-empty"}`)
				checkErrorPost(t, api.next(t, c), inv("c-2")+"/error", "string", "handled")
				api.enqueue("c-3", `{"kind":"fail"}`)
				checkErrorPost(t, api.next(t, c), inv("c-3")+"/error", "RangeError", "failed via context.fail")
				api.enqueue("c-4", `{"kind":"succeed"}`)
				checkResponsePost(t, api.next(t, c), "c-4", `{"via":"succeed"}`)
				api.enqueue("c-5", `{"kind":"done"}`)
				checkResponsePost(t, api.next(t, c), "c-5", `{"via":"done"}`)
				api.enqueue("c-6", `{}`)
				checkErrorPost(t, api.next(t, c), inv("c-6")+"/error", "Error", "callback error")
			})

			t.Run("first-wins", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.both")
				api.enqueue("b-1", `{}`)
				checkResponsePost(t, api.next(t, c), "b-1", `"from-callback"`)
				api.expectNoPost(t, 300*time.Millisecond) // the promise resolving later is ignored

				api2 := newFakeAPI(t)
				c2 := startClient(t, node, runtimeDir, task, api2.addr(), "app.promiseFirst")
				api2.enqueue("p-1", `{}`)
				checkResponsePost(t, api2.next(t, c2), "p-1", `"from-promise"`)
				api2.expectNoPost(t, 300*time.Millisecond)
			})

			t.Run("no-result", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.nothing")
				api.enqueue("n-1", `{}`)
				checkResponsePost(t, api.next(t, c), "n-1", "null")
				api.enqueue("n-2", `{}`)
				checkResponsePost(t, api.next(t, c), "n-2", "null")
			})

			t.Run("unserialisable-result", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.circular")
				api.enqueue("j-1", `{}`)
				d := checkErrorPost(t, api.next(t, c), inv("j-1")+"/error", "TypeError", "")
				if !strings.Contains(d.ErrorMessage, "circular") {
					t.Errorf("errorMessage %q", d.ErrorMessage)
				}
			})

			t.Run("trace-id", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.context")
				const trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
				api.enqueue("t-1", `{}`, "Lambda-Runtime-Trace-Id", trace,
					"Lambda-Runtime-Client-Context", `{"custom":{"a":"b"}}`,
					"Lambda-Runtime-Cognito-Identity", `{"cognitoIdentityId":"i","cognitoIdentityPoolId":"p"}`)
				p := api.next(t, c)
				var got map[string]any
				if err := json.Unmarshal(p.body, &got); err != nil {
					t.Fatalf("%s: %s", p.path, p.body)
				}
				if got["traceId"] != trace {
					t.Errorf("_X_AMZN_TRACE_ID = %v, want %s", got["traceId"], trace)
				}
				if got["invokedFunctionArn"] != "arn:aws:lambda:eu-west-1:123456789012:function:fake" || got["awsRequestId"] != "t-1" {
					t.Errorf("context %v", got)
				}
				if cc, _ := got["clientContext"].(map[string]any); cc == nil || fmt.Sprint(cc["custom"]) != "map[a:b]" {
					t.Errorf("clientContext %v", got["clientContext"])
				}
				if rem, _ := got["remaining"].(float64); rem <= 25000 || rem > 30000 {
					t.Errorf("remaining %v, want about 30000", got["remaining"])
				}
				// The next invocation has no trace id: the variable is removed.
				api.enqueue("t-2", `{}`)
				p = api.next(t, c)
				got = nil
				_ = json.Unmarshal(p.body, &got)
				if got["traceId"] != "<undefined>" {
					t.Errorf("_X_AMZN_TRACE_ID after an invocation without a trace id = %v", got["traceId"])
				}
				// A client context that is not JSON fails that invocation.
				api.enqueue("t-3", `{}`, "Lambda-Runtime-Client-Context", "{bad")
				d := checkErrorPost(t, api.next(t, c), inv("t-3")+"/error", "Error", "")
				if !strings.HasPrefix(d.ErrorMessage, "Cannot parse ClientContext as json") {
					t.Errorf("errorMessage %q", d.ErrorMessage)
				}
			})

			t.Run("uncaught-exception-exits-129", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.uncaught")
				api.enqueue("u-1", `{}`)
				checkErrorPost(t, api.next(t, c), inv("u-1")+"/error", "RangeError", "thrown from a timer")
				if code := c.exitCode(t); code != 129 {
					t.Errorf("exit status %d, want 129", code)
				}
			})

			t.Run("unhandled-rejection-exits-128", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "app.unhandled")
				api.enqueue("r-1", `{}`)
				d := checkErrorPost(t, api.next(t, c), inv("r-1")+"/error", "Runtime.UnhandledPromiseRejection", "Error: nobody handles me")
				if len(d.StackTrace) < 2 || !strings.Contains(d.StackTrace[1], "app.js") {
					t.Errorf("stackTrace %q: want the rejection's own frames", d.StackTrace)
				}
				if code := c.exitCode(t); code != 128 {
					t.Errorf("exit status %d, want 128", code)
				}
			})

			// Handlers that load, and init errors: POST /runtime/init/error
			// with the exact header, then exit status 1.
			loads := []struct {
				handler string
				want    string // a JSON response, or "" for an init error
				errType string
				errMsg  string // substring
				esmOnly bool
			}{
				{handler: "app.nested.deeper.handler", want: `"nested export"`},
				{handler: "common.handler", want: `"from common.cjs"`},
				{handler: "typemod/handler.handler", want: `"ES module .js under \"type\": \"module\""`, esmOnly: true},
				{handler: "missing.handler", errType: "Runtime.ImportModuleError", errMsg: "Cannot find module 'missing'"},
				{handler: "lib/missing.handler", errType: "Runtime.ImportModuleError", errMsg: "Cannot find module"},
				{handler: "app.nope", errType: "Runtime.HandlerNotFound", errMsg: "app.nope is undefined or not exported"},
				{handler: "app.notAFunction", errType: "Runtime.HandlerNotFound", errMsg: "app.notAFunction is not a function"},
				{handler: "app", errType: "Runtime.MalformedHandlerName", errMsg: "Bad handler"},
				{handler: "../etc/app.handler", errType: "Runtime.MalformedHandlerName", errMsg: "is not a valid handler name"},
				{handler: "", errType: "Runtime.MalformedHandlerName", errMsg: "No handler specified"},
				{handler: "syntax.handler", errType: "Runtime.UserCodeSyntaxError", errMsg: "SyntaxError"},
				{handler: "throwsatload.handler", errType: "ConfigError", errMsg: "missing configuration"},
			}
			for _, tc := range loads {
				name := tc.handler
				if name == "" {
					name = "no-handler"
				}
				t.Run("load/"+strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
					api := newFakeAPI(t)
					c := startClient(t, node, runtimeDir, task, api.addr(), tc.handler)
					if tc.esmOnly && !esmSupported(version) {
						// Node.js 10 knows nothing of "type": "module" and
						// loads the file as CommonJS, as node itself would.
						checkErrorPost(t, api.next(t, c), "/2018-06-01/runtime/init/error", "Runtime.UserCodeSyntaxError", "")
						if code := c.exitCode(t); code != 1 {
							t.Errorf("exit status %d, want 1", code)
						}
						return
					}
					if tc.want != "" {
						api.enqueue("l-1", `{}`)
						checkResponsePost(t, api.next(t, c), "l-1", tc.want)
						return
					}
					d := checkErrorPost(t, api.next(t, c), "/2018-06-01/runtime/init/error", tc.errType, "")
					if !strings.Contains(d.ErrorMessage, tc.errMsg) {
						t.Errorf("errorMessage %q, want it to contain %q", d.ErrorMessage, tc.errMsg)
					}
					if code := c.exitCode(t); code != 1 {
						t.Errorf("exit status %d, want 1", code)
					}
				})
			}

			t.Run("handler-from-_HANDLER", func(t *testing.T) {
				api := newFakeAPI(t)
				c := startClient(t, node, runtimeDir, task, api.addr(), "", "_HANDLER=lib/deep/app.nested.handler")
				api.enqueue("h-1", `{}`)
				checkResponsePost(t, api.next(t, c), "h-1", `"lib/deep nested"`)
			})

			t.Run("no-runtime-api", func(t *testing.T) {
				c := startClient(t, node, runtimeDir, task, "", "app.asyncHandler")
				if code := c.exitCode(t); code != 1 {
					t.Errorf("exit status %d, want 1", code)
				}
				if out := c.out.String(); !strings.Contains(out, "AWS_LAMBDA_RUNTIME_API is not set") {
					t.Errorf("output %q does not explain the missing AWS_LAMBDA_RUNTIME_API", out)
				}
			})
		})
	}
}
