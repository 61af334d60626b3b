package images

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltinsRenderForEveryRuntime(t *testing.T) {
	c := mustLoad(t)
	for _, r := range c.Runtimes {
		for _, name := range Builtins {
			t.Run(r.Identifier+"/"+name, func(t *testing.T) {
				out, err := Builtin(name, c, r)
				if err != nil {
					t.Fatal(err)
				}
				again, _ := Builtin(name, c, r)
				if !bytes.Equal(out, again) {
					t.Error("rendering is not deterministic")
				}
				if !bytes.HasPrefix(out, []byte("#!/bin/sh\n")) || bytes.Contains(out, []byte("{{")) || bytes.Contains(out, []byte("<no value>")) {
					t.Errorf("bad script:\n%s", out)
				}
				path := filepath.Join(t.TempDir(), name)
				if err := os.WriteFile(path, out, 0o755); err != nil {
					t.Fatal(err)
				}
				if msg, err := exec.Command("/bin/sh", "-n", path).CombinedOutput(); err != nil {
					t.Errorf("sh -n: %v\n%s\n%s", err, msg, out)
				}
			})
		}
	}
}

func TestBootstrapPerFamily(t *testing.T) {
	c := mustLoad(t)
	cases := map[string][]string{
		"nodejs14.x":    {"exec /var/lang/bin/node ", "/var/runtime/index.js \"$_HANDLER\""},
		"python3.9":     {"PYTHON=/var/lang/bin/python3.9", "-m awslambdaric \"$_HANDLER\""},
		"python2.7":     {"PYTHON=/usr/bin/python2.7"},
		"ruby2.7":       {"RUBY=/var/lang/bin/ruby", "/opt/rh/rh-ruby27/root/usr/bin/ruby", "exec \"$RUBY\" ", "aws_lambda_ric/bootstrap", "Bootstrap.start' \"$_HANDLER\""},
		"ruby2.5":       {"RUBY=/usr/bin/ruby2.5"},
		"java11":        {"exec /var/lang/bin/java", "-cp '/var/runtime/lib/*'", "com.amazonaws.services.lambda.runtime.api.client.AWSLambda \"$_HANDLER\""},
		"dotnetcore3.1": {"exec /var/lang/bin/dotnet exec", "/var/runtime/Amazon.Lambda.RuntimeSupport.dll \"$_HANDLER\""},
		"go1.x":         {"/var/task}/$_HANDLER"},
		"provided.al2":  {"/var/task}/bootstrap\" /opt/bootstrap"},
	}
	for id, wants := range cases {
		r, _ := c.Runtime(id)
		out, err := Builtin("bootstrap", c, r)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s bootstrap lacks %q:\n%s", id, w, out)
			}
		}
	}
}

func TestBuiltinErrors(t *testing.T) {
	c := mustLoad(t)
	r, _ := c.Runtime("python3.9")
	if _, err := Builtin("init", c, r); err == nil || !strings.Contains(err.Error(), `unknown builtin "init"`) {
		t.Errorf("unknown name: %v", err)
	}
	odd := *r
	odd.Family = "cobol"
	if _, err := Builtin("bootstrap", c, &odd); err == nil || !strings.Contains(err.Error(), `family "cobol"`) {
		t.Errorf("unknown family: %v", err)
	}
}

// fakeBin writes an executable that logs its name, arguments and _HANDLER.
func fakeBin(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	script := "#!/bin/sh\nprintf '%s' \"$(basename \"$0\")\" >>\"$LOG\"\nfor a in \"$@\"; do printf ' %s' \"$(basename \"$a\")\" >>\"$LOG\"; done\nprintf ' _HANDLER=%s\\n' \"$_HANDLER\" >>\"$LOG\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// runScript runs a rendered script whose absolute paths are replaced by
// those of fake programs, and returns its exit code, stderr and the log.
func runScript(t *testing.T, script []byte, replace map[string]string, env []string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	text := string(script)
	for from, to := range replace {
		text = strings.ReplaceAll(text, from, to)
	}
	path := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "log")
	cmd := exec.Command("/bin/sh", append([]string{path}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LOG=" + log}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	logged, _ := os.ReadFile(log)
	return code, stderr.String(), string(logged)
}

func TestEntrypointBehaviour(t *testing.T) {
	c := mustLoad(t)
	bin := t.TempDir()
	fakes := map[string]string{
		"/usr/local/bin/aws-lambda-rie": fakeBin(t, bin, "rie"),
		"/var/runtime/bootstrap":        fakeBin(t, bin, "bootstrap"),
	}
	wrapper := fakeBin(t, bin, "wrapper")
	notExec := filepath.Join(bin, "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	api := "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"
	cases := []struct {
		name, runtime string
		env           []string
		args          []string
		code          int
		log, stderr   string
	}{
		{"no handler", "python3.9", nil, nil, 142, "", "exactly one argument"},
		{"two arguments", "python3.9", nil, []string{"a.b", "c.d"}, 142, "", "got 2"},
		{"in Lambda: bootstrap directly", "python3.9", []string{api}, []string{"app.handler"}, 0,
			"bootstrap _HANDLER=app.handler\n", ""},
		{"locally: the emulator runs the bootstrap", "python3.9", nil, []string{"app.handler"}, 0,
			"rie bootstrap _HANDLER=app.handler\n", ""},
		{"empty API variable counts as unset", "nodejs14.x", []string{"AWS_LAMBDA_RUNTIME_API="}, []string{"index.handler"}, 0,
			"rie bootstrap _HANDLER=index.handler\n", ""},
		{"wrapper on AL2 managed, in Lambda", "python3.9", []string{api, "AWS_LAMBDA_EXEC_WRAPPER=" + wrapper}, []string{"app.handler"}, 0,
			"wrapper bootstrap _HANDLER=app.handler\n", ""},
		{"wrapper on AL2 managed, locally", "java11", []string{"AWS_LAMBDA_EXEC_WRAPPER=" + wrapper}, []string{"example.Handler"}, 0,
			"rie wrapper bootstrap _HANDLER=example.Handler\n", ""},
		{"wrapper missing", "ruby2.7", []string{api, "AWS_LAMBDA_EXEC_WRAPPER=/nonexistent/wrapper"}, []string{"app.handler"}, 127,
			"", "does not exist"},
		{"wrapper not executable", "python3.8", []string{api, "AWS_LAMBDA_EXEC_WRAPPER=" + notExec}, []string{"app.handler"}, 126,
			"", "not executable"},
		{"no wrapper on AL1", "python3.7", []string{api, "AWS_LAMBDA_EXEC_WRAPPER=" + wrapper}, []string{"app.handler"}, 0,
			"bootstrap _HANDLER=app.handler\n", ""},
		{"no wrapper for custom runtimes", "provided.al2", []string{api, "AWS_LAMBDA_EXEC_WRAPPER=" + wrapper}, []string{"function.handler"}, 0,
			"bootstrap _HANDLER=function.handler\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := c.Runtime(tc.runtime)
			script, err := Builtin("entrypoint", c, r)
			if err != nil {
				t.Fatal(err)
			}
			code, stderr, log := runScript(t, script, fakes, tc.env, tc.args...)
			if code != tc.code || log != tc.log || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, log %q, stderr %q; want exit %d, log %q, stderr containing %q",
					code, log, stderr, tc.code, tc.log, tc.stderr)
			}
		})
	}
}

func TestProvidedBootstrapBehaviour(t *testing.T) {
	c := mustLoad(t)
	r, _ := c.Runtime("provided.al2")
	script, err := Builtin("bootstrap", c, r)
	if err != nil {
		t.Fatal(err)
	}
	task, opt := t.TempDir(), t.TempDir()
	optBootstrap := filepath.Join(opt, "bootstrap")
	replace := map[string]string{"/opt/bootstrap": optBootstrap}
	env := []string{"LAMBDA_TASK_ROOT=" + task, "_HANDLER=function.handler"}

	code, stderr, _ := runScript(t, script, replace, env)
	if code != 1 || !strings.Contains(stderr, "no executable bootstrap") {
		t.Errorf("without a bootstrap: exit %d, %q", code, stderr)
	}
	fakeBin(t, opt, "bootstrap")
	if _, _, log := runScript(t, script, replace, env); log != "bootstrap _HANDLER=function.handler\n" {
		t.Errorf("layer bootstrap: log %q", log)
	}
	taskBootstrap := fakeBin(t, task, "bootstrap")
	if err := os.WriteFile(taskBootstrap, []byte("#!/bin/sh\necho task >>\"$LOG\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, log := runScript(t, script, replace, env); log != "task\n" {
		t.Errorf("the function's bootstrap comes first: log %q", log)
	}
}
