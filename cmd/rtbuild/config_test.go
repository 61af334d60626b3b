package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// probeValues is what the probe command saw.
type probeValues struct {
	jobs      int
	progress  string
	offline   bool
	names     []string
	tags      []string
	cacheDir  string
	mirrors   []string
	changed   bool
	subOption string
}

// runProbe runs `rtbuild probe ARGS` (or `rtbuild probe sub ARGS` when the
// first arg is "sub") in-process: the real root command, with a probe
// command added whose flags cover each kind (int, string, bool, array,
// slice) and the root's persistent flags.
func runProbe(t *testing.T, args ...string) (probeValues, error) {
	t.Helper()
	var v probeValues
	var stdout, stderr bytes.Buffer
	root := newRootCommand(&stdout, &stderr)
	probe := &cobra.Command{
		Use: "probe",
		RunE: func(cmd *cobra.Command, _ []string) error {
			v.cacheDir, _ = cmd.Flags().GetString("cache-dir")
			v.mirrors, _ = cmd.Flags().GetStringArray("mirror")
			v.changed = cmd.Flags().Changed("jobs")
			return nil
		},
	}
	f := probe.PersistentFlags()
	f.IntVar(&v.jobs, "jobs", 0, "")
	f.StringVar(&v.progress, "progress", "auto", "")
	f.BoolVar(&v.offline, "offline", false, "")
	f.StringArrayVar(&v.names, "name", nil, "")
	f.StringSliceVar(&v.tags, "tag", nil, "")
	sub := &cobra.Command{
		Use: "sub",
		RunE: func(cmd *cobra.Command, _ []string) error {
			v.cacheDir, _ = cmd.Flags().GetString("cache-dir")
			return nil
		},
	}
	sub.Flags().StringVar(&v.subOption, "sub-option", "", "")
	probe.AddCommand(sub)
	root.AddCommand(probe)
	root.SetArgs(append([]string{"probe"}, args...))
	err := root.ExecuteContext(context.Background())
	return v, err
}

// isolate gives the test an empty project directory, an empty user
// configuration directory and no RTBUILD_* variable; it returns both
// directories.
func isolate(t *testing.T) (project, user string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "RTBUILD_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	project, cfg := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", t.TempDir())
	t.Chdir(project)
	user = filepath.Join(cfg, "rtbuild")
	if err := os.MkdirAll(user, 0o755); err != nil {
		t.Fatal(err)
	}
	return project, user
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "rtbuild.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustProbe(t *testing.T, args ...string) probeValues {
	t.Helper()
	v, err := runProbe(t, args...)
	if err != nil {
		t.Fatalf("rtbuild probe %s: %v", strings.Join(args, " "), err)
	}
	return v
}

// TestConfigPrecedence: flag > environment > project config > user config > default.
func TestConfigPrecedence(t *testing.T) {
	project, user := isolate(t)
	if v := mustProbe(t); v.jobs != 0 || v.progress != "auto" {
		t.Fatalf("defaults: %+v", v)
	}
	writeConfig(t, user, "jobs: 1\nprogress: plain\noffline: true\n")
	if v := mustProbe(t); v.jobs != 1 || v.progress != "plain" || !v.offline {
		t.Errorf("user config: %+v", v)
	}
	writeConfig(t, project, "jobs: 2\n")
	if v := mustProbe(t); v.jobs != 2 || v.progress != "plain" {
		t.Errorf("project config over user config: %+v", v)
	}
	t.Setenv("RTBUILD_JOBS", "3")
	v := mustProbe(t)
	if v.jobs != 3 || v.progress != "plain" {
		t.Errorf("environment over project config: %+v", v)
	}
	if v.changed {
		t.Error("a value from the environment counts as given on the command line")
	}
	if v := mustProbe(t, "--jobs", "4"); v.jobs != 4 || !v.changed {
		t.Errorf("flag over environment: %+v", v)
	}
	// --offline=false on the command line beats the user config's true.
	if v := mustProbe(t, "--offline=false"); v.offline {
		t.Errorf("--offline=false: %+v", v)
	}
}

// TestConfigSectionsAndLists: command sections override the top level for
// their commands; list flags take YAML lists, or comma-separated values
// from the environment; a list from a higher source replaces a lower one.
func TestConfigSectionsAndLists(t *testing.T) {
	project, user := isolate(t)
	writeConfig(t, user, "name: [u1, u2]\n")
	writeConfig(t, project, strings.Join([]string{
		"cache-dir: /top",
		"mirror:",
		"  - https://a.example/=http://127.0.0.1:1/a/",
		"  - https://b.example/=http://127.0.0.1:1/b/",
		"tag: x",
		"probe:",
		"  progress: json",
		"  sub:",
		"    cache-dir: /deep",
		"    sub-option: on",
		"",
	}, "\n"))
	v := mustProbe(t)
	if v.cacheDir != "/top" || v.progress != "json" || v.subOption != "" {
		t.Errorf("probe: %+v", v)
	}
	if strings.Join(v.mirrors, " ") != "https://a.example/=http://127.0.0.1:1/a/ https://b.example/=http://127.0.0.1:1/b/" {
		t.Errorf("mirror list: %q", v.mirrors)
	}
	if strings.Join(v.names, ",") != "u1,u2" || strings.Join(v.tags, ",") != "x" {
		t.Errorf("lists: names %q tags %q", v.names, v.tags)
	}
	if v := mustProbe(t, "sub"); v.cacheDir != "/deep" || v.subOption != "on" {
		t.Errorf("probe sub: %+v", v)
	}
	t.Setenv("RTBUILD_NAME", "e1,e2")
	t.Setenv("RTBUILD_MIRROR", "https://c.example/=http://127.0.0.1:1/c/")
	v = mustProbe(t, "--tag", "f")
	if strings.Join(v.names, ",") != "e1,e2" || strings.Join(v.tags, ",") != "f" || len(v.mirrors) != 1 {
		t.Errorf("env and flag lists: names %q tags %q mirrors %q", v.names, v.tags, v.mirrors)
	}
}

// TestConfigExistingVariables: RTBUILD_CACHE_DIR keeps working (it is the
// variable of --cache-dir) and beats the configuration files; the
// configuration reaches real commands.
func TestConfigExistingVariables(t *testing.T) {
	project, _ := isolate(t)
	dir := writeTestCache(t, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	_, want, _ := runInProcess(t, "cache", "du", "--cache-dir", dir, "--format", "json")
	writeConfig(t, project, "cache-dir: /nonexistent/rtbuild-cache\ncache:\n  du:\n    format: json\n")
	t.Setenv("RTBUILD_CACHE_DIR", dir)
	code, out, errOut := runInProcess(t, "cache", "du")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != want || !strings.HasPrefix(out, "[") {
		t.Errorf("cache du with the configuration printed\n%s\nwant\n%s", out, want)
	}
	if v := mustProbe(t); v.cacheDir != dir {
		t.Errorf("RTBUILD_CACHE_DIR gave --cache-dir %q", v.cacheDir)
	}
}

// TestConfigExplicitFile: --config FILE (or RTBUILD_CONFIG) replaces the
// project file; a missing explicit file is an error.
func TestConfigExplicitFile(t *testing.T) {
	project, _ := isolate(t)
	writeConfig(t, project, "jobs: 2\n")
	other := writeConfig(t, t.TempDir(), "jobs: 5\n")
	if v := mustProbe(t, "--config", other); v.jobs != 5 {
		t.Errorf("--config: %+v", v)
	}
	t.Setenv("RTBUILD_CONFIG", other)
	if v := mustProbe(t); v.jobs != 5 {
		t.Errorf("RTBUILD_CONFIG: %+v", v)
	}
	if _, err := runProbe(t, "--config", filepath.Join(project, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing --config file: %v", err)
	}
}

// TestConfigErrors: unknown keys and bad values are one error naming the
// file (or variable), the line and the key; exit code 2.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		env          [2]string
		want         []string
	}{
		{"unknown key", "jobs: 1\ncache_dir: /x\n", [2]string{}, []string{"rtbuild.yaml:2:", `unknown key "cache_dir"`}},
		{"unknown key in a section", "probe:\n  push-to: x\n", [2]string{}, []string{"rtbuild.yaml:2:", `"push-to"`, "section probe"}},
		{"flag of another command in a section", "probe:\n  sub:\n    handler: x\n", [2]string{}, []string{"rtbuild.yaml:3:", `"handler"`, "section probe sub"}},
		{"bad int", "jobs: many\n", [2]string{}, []string{"rtbuild.yaml:1:", `key "jobs"`, `"many"`}},
		{"bad bool", "probe:\n  offline: perhaps\n", [2]string{}, []string{"rtbuild.yaml:2:", `key "offline"`}},
		{"list for a single value", "jobs: [1, 2]\n", [2]string{}, []string{"rtbuild.yaml:1:", `key "jobs"`, "not a list"}},
		{"mapping for a value", "jobs:\n  a: 1\n", [2]string{}, []string{"rtbuild.yaml:1:", `key "jobs"`, "mapping"}},
		{"not a mapping", "- jobs\n", [2]string{}, []string{"rtbuild.yaml:1:", "mapping"}},
		{"bad YAML", "jobs: [\n", [2]string{}, []string{"rtbuild.yaml", "YAML"}},
		{"bad environment value", "", [2]string{"RTBUILD_JOBS", "lots"}, []string{"RTBUILD_JOBS", `"lots"`, "--jobs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			project, _ := isolate(t)
			writeConfig(t, project, tc.config)
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			_, err := runProbe(t)
			if err == nil {
				t.Fatal("no error")
			}
			code, msg := exitCode(context.Background(), err), "rtbuild: "+oneLine(err.Error())+"\n"
			if code != exitUsage {
				t.Errorf("exit %d, want %d (%q)", code, exitUsage, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %s", msg, w)
				}
			}
		})
	}
}

// TestConfigErrorThroughCLI: a bad configuration file stops any command
// with one line on stderr and exit code 2.
func TestConfigErrorThroughCLI(t *testing.T) {
	project, _ := isolate(t)
	writeConfig(t, project, "mirrors: x\n")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"version"}, &stdout, &stderr)
	if code != exitUsage || stdout.Len() != 0 {
		t.Errorf("exit %d, stdout %q", code, stdout.String())
	}
	want := "rtbuild: rtbuild.yaml:1: unknown key \"mirrors\": not a flag of `rtbuild` or its subcommands, nor a subcommand (keys are flag names without --, e.g. cache-dir)\n"
	if stderr.String() != want {
		t.Errorf("stderr %q\nwant   %q", stderr.String(), want)
	}
}
