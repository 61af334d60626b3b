package nodejsric_test

// These tests run the client on real Node.js 10, 12 and 14 binaries under the
// real Runtime Interface Emulator (aws-lambda-rie, built from the version
// pinned in testdata/tools).
//
// What the emulator does, read from its source (internal/lambda/rie, used
// when AWS_LAMBDA_MAX_CONCURRENCY is unset) and checked here:
//   - `aws-lambda-rie [--runtime-interface-emulator-address H:P]
//     [--runtime-api-address H:P] CMD ARGS... HANDLER` runs CMD ARGS...
//     HANDLER as the bootstrap (in its own process group, in the emulator's
//     working directory) and takes the last argument as the handler, which it
//     also exports as _HANDLER (unless _HANDLER is already set).
//   - The Runtime API listens on 127.0.0.1:9001 unless --runtime-api-address
//     says otherwise; these tests give each emulator free ports for both
//     addresses, and still run one emulator at a time (never t.Parallel).
//   - The bootstrap's environment is the emulator's own plus
//     AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME (default
//     test_function), AWS_LAMBDA_FUNCTION_VERSION ($LATEST),
//     AWS_LAMBDA_FUNCTION_MEMORY_SIZE (3008), AWS_LAMBDA_LOG_GROUP_NAME
//     (/aws/lambda/Functions), AWS_LAMBDA_LOG_STREAM_NAME ($LATEST).
//   - Init happens on the first invocation. The deadline is now +
//     AWS_LAMBDA_FUNCTION_TIMEOUT (default 300 s); the ARN is
//     arn:aws:lambda:us-east-1:012345678912:function:<name>; X-Amzn-RequestId,
//     X-Amz-Client-Context (base64) and X-Amz-Cognito-Identity on the invoke
//     become the request id, client context and identity.
//   - It never sends Lambda-Runtime-Trace-Id: its tracer is a no-op, so an
//     X-Amzn-Trace-Id on the invoke is dropped. _X_AMZN_TRACE_ID is therefore
//     tested against a fake Runtime API (fakeapi_test.go).
//   - A function error (POST .../error) comes back to the invoker as status
//     200 with the posted error document as the body and no
//     X-Amz-Function-Error header. An init error, or a runtime that exits
//     during an invocation, comes back as status 502 with the posted error
//     document; the next invocation starts the runtime again.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/testtools"
)

const functionName = "rtbuild-ric-test"

// rie is a running emulator with the client as its bootstrap.
type rie struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	out    *lockedBuffer
	exited chan struct{}
}

// startRIE starts the emulator on free loopback ports running
// `node <runtimeDir>/index.js handler` in taskRoot, and stops it when the
// test ends.
func startRIE(t *testing.T, rieBin, nodeBin, runtimeDir, taskRoot, handler string, env ...string) *rie {
	t.Helper()
	port, apiPort := testtools.FreePort(t), testtools.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	r := &rie{t: t, url: "http://" + addr + "/2015-03-31/functions/function/invocations", out: &lockedBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(rieBin,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		nodeBin, filepath.Join(runtimeDir, "index.js"), handler)
	r.cmd.Dir = taskRoot
	r.cmd.Env = append([]string{
		"PATH=/usr/bin:/bin",
		"LAMBDA_TASK_ROOT=" + taskRoot,
		"AWS_LAMBDA_FUNCTION_NAME=" + functionName,
	}, env...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting aws-lambda-rie: %v", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() { r.stop(runtimeDir) })

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("aws-lambda-rie exited at start: %s", r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie not listening on %s: %s", addr, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the emulator by its PID (SIGTERM, on which it kills the
// runtime's process group and exits), falls back to killing its own process
// group, and checks that no process running the client is left.
func (r *rie) stop(runtimeDir string) {
	t := r.t
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("aws-lambda-rie ignored SIGTERM for 10s; killing its process group")
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
	}
	checkNoneLeft(t, runtimeDir)
	if t.Failed() {
		t.Logf("aws-lambda-rie output:\n%s", r.out.String())
	}
}

// invoke posts an event and returns the status, headers and body.
func (r *rie) invoke(event string, headers ...string) (int, http.Header, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(event))
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatalf("invoke: %v\nemulator output:\n%s", err, r.out.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// invokeOK invokes, requires status 200 and decodes the JSON result into v.
func (r *rie) invokeOK(event string, v any, headers ...string) {
	r.t.Helper()
	status, _, body := r.invoke(event, headers...)
	if status != http.StatusOK {
		r.t.Fatalf("invoke: status %d, body %s\nemulator output:\n%s", status, body, r.out.String())
	}
	if err := json.Unmarshal(body, v); err != nil {
		r.t.Fatalf("invoke result %s: %v", body, err)
	}
}

// waitOutput waits up to 5s for the emulator to print s (it may log a
// runtime's exit just after answering the invocation).
func (r *rie) waitOutput(s string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(r.out.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// waitLog waits up to 5s for a client log line matching ok (the client
// writes straight to the emulator's stdout, a pipe the test copies
// asynchronously, so a line may arrive after the invocation's response).
func (r *rie) waitLog(ok func(requestID, level, message string) bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range r.logLines() {
			if ok(l[0], l[1], l[2]) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t([^\t]+)\t(INFO|ERROR|WARN|DEBUG|TRACE|FATAL)\t(.*)$`)

// logLines returns the client's Lambda-format log lines in the emulator's
// output, as [requestId, level, message] triples.
func (r *rie) logLines() [][3]string {
	var out [][3]string
	for _, line := range strings.Split(r.out.String(), "\n") {
		if m := logLine.FindStringSubmatch(line); m != nil {
			out = append(out, [3]string{m[1], m[2], m[3]})
		}
	}
	return out
}

func TestUnderRIE(t *testing.T) {
	requireLinuxAMD64(t)
	rieBin := testtools.BuildRIE(t, "amd64")
	for _, version := range nodeVersions {
		t.Run("node"+version, func(t *testing.T) {
			node := nodeBinary(t, version)
			runtimeDir := installClient(t)
			task := taskRoot(t)
			start := func(t *testing.T, handler string, env ...string) *rie {
				return startRIE(t, rieBin, node, runtimeDir, task, handler, env...)
			}

			t.Run("async", func(t *testing.T) {
				r := start(t, "app.asyncHandler")
				defer func() {
					// The leftover check at stop sees the running client.
					if len(processesMentioning(runtimeDir)) == 0 {
						t.Errorf("no process running %s found while the emulator runs", runtimeDir)
					}
				}()
				for i := 0; i < 2; i++ { // the loop goes on after the first
					var got struct {
						Echo      map[string]any `json:"echo"`
						RequestID string         `json:"requestId"`
					}
					r.invokeOK(fmt.Sprintf(`{"n":%d,"s":"x"}`, i), &got)
					if got.Echo["n"] != float64(i) || got.Echo["s"] != "x" || got.RequestID == "" {
						t.Errorf("invocation %d: got %+v", i, got)
					}
					// console.log became a Lambda log line of this request;
					// a newline inside a message became a carriage return.
					sawLog := r.waitLog(func(id, level, msg string) bool {
						return id == got.RequestID && level == "INFO" && msg == fmt.Sprintf(`async handler got {"n":%d,"s":"x"}`, i)
					})
					sawTwoLines := r.waitLog(func(id, level, msg string) bool {
						return id == got.RequestID && level == "INFO" && msg == "two\rlines"
					})
					if !sawLog || !sawTwoLines {
						t.Errorf("invocation %d: log lines of request %s missing (log %v, two lines %v) in:\n%s",
							i, got.RequestID, sawLog, sawTwoLines, r.out.String())
					}
				}
			})

			t.Run("callback", func(t *testing.T) {
				r := start(t, "app.callbackHandler")
				// callbackWaitsForEmptyEventLoop (default true): the result
				// is posted once the timer left behind has run.
				begin := time.Now()
				var got struct {
					Callback  bool   `json:"callback"`
					RequestID string `json:"requestId"`
				}
				r.invokeOK(`{"timerMs":400}`, &got)
				if !got.Callback {
					t.Errorf("got %+v", got)
				}
				if d := time.Since(begin); d < 400*time.Millisecond {
					t.Errorf("result came after %s, before the 400ms timer the handler left behind", d)
				}
				if !r.waitLog(func(id, level, msg string) bool {
					return id == got.RequestID && strings.HasPrefix(msg, "timer fired after")
				}) {
					t.Errorf("the timer did not run within request %s:\n%s", got.RequestID, r.out.String())
				}
				// callbackWaitsForEmptyEventLoop = false: posted at once.
				begin = time.Now()
				r.invokeOK(`{"timerMs":3000,"noWait":true}`, &got)
				if d := time.Since(begin); d > 2500*time.Millisecond {
					t.Errorf("with callbackWaitsForEmptyEventLoop=false the result took %s (the handler left a 3s timer)", d)
				}
				if !got.Callback {
					t.Errorf("got %+v", got)
				}
			})

			t.Run("error", func(t *testing.T) {
				r := start(t, "app.throwing")
				status, hdr, body := r.invoke(`{"kind":"validation"}`)
				// The emulator answers a function error with 200 and the
				// posted document, without X-Amz-Function-Error.
				if status != http.StatusOK {
					t.Errorf("function error: status %d, want the emulator's 200", status)
				}
				if v := hdr.Get("X-Amz-Function-Error"); v != "" {
					t.Logf("emulator now sends X-Amz-Function-Error: %q", v)
				}
				d := decodeErrorDoc(t, body)
				if d.ErrorType != "ValidationError" || d.ErrorMessage != "invalid input: validation" {
					t.Errorf("got %+v", d)
				}
				if len(d.StackTrace) < 2 || d.StackTrace[0] != "ValidationError: invalid input: validation" ||
					!strings.Contains(strings.Join(d.StackTrace, "\n"), filepath.Join(task, "app.js")) {
					t.Errorf("stackTrace %q: want the error's stack, split into lines, through app.js", d.StackTrace)
				}

				_, _, body = r.invoke(`{"kind":"sync-type"}`)
				if d := decodeErrorDoc(t, body); d.ErrorType != "TypeError" || d.ErrorMessage != "wrong type of thing" {
					t.Errorf("TypeError: got %+v", d)
				}
				_, _, body = r.invoke(`{"kind":"string"}`)
				if d := decodeErrorDoc(t, body); d.ErrorType != "string" || d.ErrorMessage != "a plain string" || len(d.StackTrace) != 0 {
					t.Errorf("thrown string: got %+v", d)
				}
				// An undefined result is null.
				status, _, body = r.invoke(`{"kind":"undefined-result"}`)
				if status != http.StatusOK || string(body) != "null" {
					t.Errorf("undefined result: status %d body %s, want null", status, body)
				}
			})

			t.Run("init-error-missing-module", func(t *testing.T) {
				r := start(t, "missing.handler")
				for i := 0; i < 2; i++ { // the emulator restarts the runtime for the next invoke
					status, _, body := r.invoke(`{}`)
					if status != http.StatusBadGateway {
						t.Errorf("invocation %d: status %d, want the emulator's 502 for an init error", i, status)
					}
					d := decodeErrorDoc(t, body)
					if d.ErrorType != "Runtime.ImportModuleError" || !strings.Contains(d.ErrorMessage, "Cannot find module 'missing'") {
						t.Errorf("invocation %d: got %+v", i, d)
					}
				}
				// It went through /runtime/init/error (init failed, no
				// invocation was ever handed to the runtime) and the client
				// exited with status 1.
				if !r.waitOutput("INIT RTDONE(status: error)") || !r.waitOutput("exited: exit status 1\n") {
					t.Errorf("emulator output does not show a failed init and exit status 1:\n%s", r.out.String())
				}
				// Logged before any invocation: request id "undefined", as in Lambda.
				if !r.waitLog(func(id, level, msg string) bool {
					return id == "undefined" && level == "ERROR" && strings.HasPrefix(msg, "Init Error \t{") &&
						strings.Contains(msg, `"errorType":"Runtime.ImportModuleError"`)
				}) {
					t.Errorf("no init error log line with request id undefined:\n%s", r.out.String())
				}
			})

			t.Run("context", func(t *testing.T) {
				r := start(t, "app.context", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_LAMBDA_FUNCTION_TIMEOUT=7")
				clientContext := `{"client":{"installation_id":"inst-1"},"custom":{"k":"v"},"env":{"platform":"test"}}`
				var got map[string]any
				r.invokeOK(`{}`, &got,
					"X-Amzn-RequestId", "0f5b5c9e-1111-2222-3333-444455556666",
					"X-Amz-Client-Context", base64.StdEncoding.EncodeToString([]byte(clientContext)),
					"X-Amz-Cognito-Identity", `{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}`,
					"X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
				want := map[string]any{
					"awsRequestId":       "0f5b5c9e-1111-2222-3333-444455556666",
					"invokedFunctionArn": "arn:aws:lambda:us-east-1:012345678912:function:" + functionName,
					"functionName":       functionName,
					"functionVersion":    "$LATEST",
					"memoryLimitInMB":    "512",
					"logGroupName":       "/aws/lambda/Functions",
					"logStreamName":      "$LATEST",
					"waits":              true,
					"handlerEnv":         "app.context",
					"taskRoot":           task,
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("context %s = %#v, want %#v", k, got[k], v)
					}
				}
				if rem, _ := got["remaining"].(float64); rem <= 0 || rem > 7000 {
					t.Errorf("getRemainingTimeInMillis() = %v, want in (0, 7000] with AWS_LAMBDA_FUNCTION_TIMEOUT=7", got["remaining"])
				}
				if id, _ := got["identity"].(map[string]any); id["cognitoIdentityId"] != "id-1" || id["cognitoIdentityPoolId"] != "pool-1" {
					t.Errorf("identity = %#v", got["identity"])
				}
				var wantCC any
				_ = json.Unmarshal([]byte(clientContext), &wantCC)
				if g, _ := json.Marshal(got["clientContext"]); !bytes.Equal(g, mustJSON(wantCC)) {
					t.Errorf("clientContext = %s, want %s", g, clientContext)
				}
				if api, _ := got["runtimeAPI"].(string); !strings.HasPrefix(api, "127.0.0.1:") {
					t.Errorf("AWS_LAMBDA_RUNTIME_API = %q", api)
				}
				// The emulator drops the trace header (see the top of this
				// file), so the client must have removed the variable.
				if got["traceId"] != "<undefined>" {
					t.Logf("the emulator now passes a trace id: %v", got["traceId"])
				}

				// A second invocation without a request id gets a fresh one.
				var got2 map[string]any
				r.invokeOK(`{}`, &got2)
				if id, _ := got2["awsRequestId"].(string); id == "" || id == want["awsRequestId"] {
					t.Errorf("second awsRequestId = %q", id)
				}
				if got2["identity"] != "<undefined>" || got2["clientContext"] != "<undefined>" {
					t.Errorf("identity/clientContext leaked into the next invocation: %v %v", got2["identity"], got2["clientContext"])
				}
			})

			t.Run("subdirectory", func(t *testing.T) {
				r := start(t, "lib/deep/app.handler")
				var got struct {
					From  string         `json:"from"`
					Event map[string]any `json:"event"`
				}
				r.invokeOK(`{"a":1}`, &got)
				if got.From != "lib/deep/app.js" || got.Event["a"] != float64(1) {
					t.Errorf("got %+v", got)
				}
			})

			t.Run("nested-export", func(t *testing.T) {
				r := start(t, "lib/deep/app.nested.handler")
				var got string
				r.invokeOK(`{}`, &got)
				if got != "lib/deep nested" {
					t.Errorf("got %q", got)
				}
			})

			t.Run("esm", func(t *testing.T) {
				r := start(t, "esm.handler")
				status, _, body := r.invoke(`{"m":true}`)
				if esmSupported(version) {
					var got struct {
						ESM   bool           `json:"esm"`
						File  string         `json:"file"`
						Event map[string]any `json:"event"`
					}
					if status != http.StatusOK || json.Unmarshal(body, &got) != nil || !got.ESM || got.File != "esm.mjs" || got.Event["m"] != true {
						t.Errorf("status %d body %s", status, body)
					}
					return
				}
				// Node.js 10 cannot import ES modules: a documented init error.
				if status != http.StatusBadGateway {
					t.Errorf("status %d, want 502 (init error)", status)
				}
				d := decodeErrorDoc(t, body)
				if d.ErrorType != "Runtime.ImportModuleError" || !strings.Contains(d.ErrorMessage, "is an ES module") ||
					!strings.Contains(d.ErrorMessage, "v"+version) {
					t.Errorf("got %+v", d)
				}
			})

			t.Run("uncaught-exception", func(t *testing.T) {
				r := start(t, "app.uncaught")
				status, _, body := r.invoke(`{}`)
				if status != http.StatusBadGateway {
					t.Errorf("status %d, want the emulator's 502 for a runtime that exited", status)
				}
				if d := decodeErrorDoc(t, body); d.ErrorType != "RangeError" || d.ErrorMessage != "thrown from a timer" {
					t.Errorf("got %+v", d)
				}
				if !r.waitOutput("exit status 129") {
					t.Errorf("client did not exit with 129:\n%s", r.out.String())
				}
			})

			t.Run("unhandled-rejection", func(t *testing.T) {
				r := start(t, "app.unhandled")
				status, _, body := r.invoke(`{}`)
				if status != http.StatusBadGateway {
					t.Errorf("status %d, want the emulator's 502 for a runtime that exited", status)
				}
				d := decodeErrorDoc(t, body)
				if d.ErrorType != "Runtime.UnhandledPromiseRejection" || d.ErrorMessage != "Error: nobody handles me" {
					t.Errorf("got %+v", d)
				}
				if !r.waitOutput("exit status 128") {
					t.Errorf("client did not exit with 128:\n%s", r.out.String())
				}
			})
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
