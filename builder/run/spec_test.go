package run

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rtbuild/rtbuild/builder"
)

func lambdaConfig() *v1.ConfigFile {
	return &v1.ConfigFile{Config: v1.Config{
		Entrypoint: []string{"/lambda-entrypoint.sh"},
		Cmd:        []string{"app.handler"},
		WorkingDir: "/var/task",
		Env: []string{
			"PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
			"LAMBDA_TASK_ROOT=/var/task",
			"AWS_REGION=from-image",
			"TZ=:/etc/localtime",
		},
	}}
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestNewProcess(t *testing.T) {
	t.Setenv("RTBUILD_HOST_SECRET", "leak")
	s := Settings{MemoryMB: 256, Timeout: 2500 * time.Millisecond, Region: "eu-west-1", LogStream: "2024/01/02/[$LATEST]ab"}

	p, err := NewProcess(lambdaConfig(), "img", s, []string{"FOO=bar", "AWS_REGION=from-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/lambda-entrypoint.sh", "app.handler"}; !slices.Equal(p.Args, want) {
		t.Errorf("args %q, want %q (Entrypoint + Cmd)", p.Args, want)
	}
	if p.Cwd != "/var/task" {
		t.Errorf("cwd %q", p.Cwd)
	}
	env := envMap(p.Env)
	for k, want := range map[string]string{
		"PATH":                            "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LAMBDA_TASK_ROOT":                "/var/task",
		"TZ":                              ":/etc/localtime",
		"FOO":                             "bar",
		"AWS_REGION":                      "from-flag", // --env wins over Lambda's and the image's
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"AWS_LAMBDA_FUNCTION_NAME":        "function",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "3", // rounded up
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/function",
		"AWS_LAMBDA_LOG_STREAM_NAME":      "2024/01/02/[$LATEST]ab",
		"_HANDLER":                        "app.handler",
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["RTBUILD_HOST_SECRET"]; ok {
		t.Error("the host environment leaked into the container")
	}
	if len(env) != len(p.Env) {
		t.Errorf("duplicate keys in %q", p.Env)
	}
	if p.Env[0] != "PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin" || p.Env[1] != "LAMBDA_TASK_ROOT=/var/task" {
		t.Errorf("the image's order is not kept: %q", p.Env)
	}

	// Lambda's variables replace the image's.
	p, _ = NewProcess(lambdaConfig(), "img", s, nil)
	if got := envMap(p.Env)["AWS_REGION"]; got != "eu-west-1" {
		t.Errorf("AWS_REGION=%q, want Lambda's over the image's", got)
	}

	// --handler replaces the image's Cmd.
	s.Handler = "other.handler"
	p, _ = NewProcess(lambdaConfig(), "img", s, nil)
	if want := []string{"/lambda-entrypoint.sh", "other.handler"}; !slices.Equal(p.Args, want) {
		t.Errorf("args %q, want %q", p.Args, want)
	}
	if got := envMap(p.Env)["_HANDLER"]; got != "other.handler" {
		t.Errorf("_HANDLER=%q", got)
	}
}

func TestNewProcessDefaultsAndErrors(t *testing.T) {
	s := Settings{MemoryMB: 128, Timeout: time.Minute, Region: "us-east-1"}
	cf := &v1.ConfigFile{Config: v1.Config{Entrypoint: []string{"/rie"}}}
	s.Handler = "h"
	p, err := NewProcess(cf, "img", s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if env := envMap(p.Env); env["PATH"] != defaultPath || p.Cwd != "/" {
		t.Errorf("PATH=%q cwd=%q, want the defaults", env["PATH"], p.Cwd)
	}

	s.Handler = ""
	_, err = NewProcess(cf, "oci:x:base", s, nil)
	assertUsage(t, err, "oci:x:base has no CMD naming the function's handler: pass --handler")

	_, err = NewProcess(&v1.ConfigFile{Config: v1.Config{Cmd: []string{"app.handler"}}}, "img", s, nil)
	assertUsage(t, err, "img has no ENTRYPOINT")
}

func TestParseEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "SET" {
			return "v", true
		}
		return "", false
	}
	got, err := ParseEnv([]string{"A=1", "B=", "C=x=y", "SET", "UNSET"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=1", "B=", "C=x=y", "SET=v"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"=v", "", "A B=1"} {
		_, err := ParseEnv([]string{bad}, lookup)
		assertUsage(t, err, "invalid --env")
	}
}

func TestNewSpec(t *testing.T) {
	p := Process{Args: []string{"/lambda-entrypoint.sh", "app.handler"}, Env: []string{"A=1"}, Cwd: "/var/task"}
	s := NewSpec(Container{Process: p, Hostname: "localhost"})

	if s.Root == nil || s.Root.Path != "rootfs" || !s.Root.Readonly {
		t.Errorf("root %+v, want rootfs read-only", s.Root)
	}
	if !slices.Equal(s.Process.Args, p.Args) || !slices.Equal(s.Process.Env, p.Env) || s.Process.Cwd != "/var/task" {
		t.Errorf("process %+v", s.Process)
	}
	if s.Process.Terminal || s.Process.User.UID != 0 || !s.Process.NoNewPrivileges {
		t.Errorf("process %+v", s.Process)
	}
	mounts := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		mounts[m.Destination] = m
	}
	tmp, ok := mounts["/tmp"]
	if !ok || tmp.Type != "tmpfs" || !slices.Contains(tmp.Options, "size=512m") || !slices.Contains(tmp.Options, "mode=1777") {
		t.Errorf("/tmp mount %+v, want a 512m tmpfs", tmp)
	}
	if m := mounts["/proc"]; m.Type != "proc" {
		t.Errorf("/proc mount %+v", m)
	}
	if m := mounts["/dev"]; m.Type != "tmpfs" {
		t.Errorf("/dev mount %+v", m)
	}
	if m := mounts["/sys"]; !slices.Contains(m.Options, "ro") {
		t.Errorf("/sys mount %+v, want read-only", m)
	}
	if _, ok := mounts["/dev/shm"]; ok {
		t.Error("/dev/shm mounted; Lambda has none")
	}
	for _, m := range s.Mounts {
		if m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
			t.Errorf("bind mount of a host path: %+v", m)
		}
	}
	ns := map[specs.LinuxNamespaceType]specs.LinuxNamespace{}
	for _, n := range s.Linux.Namespaces {
		ns[n.Type] = n
	}
	net, ok := ns[specs.NetworkNamespace]
	if !ok || net.Path != "" {
		t.Errorf("network namespace %+v, want a new one (no path)", net)
	}
	for _, typ := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace, specs.UTSNamespace} {
		if n, ok := ns[typ]; !ok || n.Path != "" {
			t.Errorf("%s namespace %+v, want a new one", typ, n)
		}
	}
	if _, ok := ns[specs.UserNamespace]; ok {
		t.Error("user namespace requested")
	}
	if s.Hostname != "localhost" {
		t.Errorf("hostname %q", s.Hostname)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
}

func assertUsage(t *testing.T, err error, want string) {
	t.Helper()
	var u *builder.UsageError
	if !errors.As(err, &u) {
		t.Fatalf("err = %v (%T), want a *builder.UsageError", err, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %q, want it to contain %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("err is not one line: %q", err)
	}
}
