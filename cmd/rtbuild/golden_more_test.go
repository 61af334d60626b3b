package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The golden files of the commands golden_test.go's callers do not cover:
// runtimes, cache prune, lock --check, catalog export, version and the
// root's --help. Rewrite them with: go test ./cmd/rtbuild -run GoldenMore -update

// smallCatalog is a complete catalog (replace: true) whose output does not
// change when the embedded catalog or its lock does.
var smallCatalog = filepath.Join("testdata", "golden-more", "small-catalog.yaml")

// checkGoldenMore compares got with testdata/golden-more/<name>.golden, or
// rewrites the file when -update is given (the flag of golden_test.go).
func checkGoldenMore(t *testing.T, name string, got []byte) {
	t.Helper()
	checkGoldenIn(t, "golden-more", name, got)
}

// hermetic keeps the user's rtbuild.yaml and RTBUILD_* settings out of a
// test's output.
func hermetic(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "RTBUILD_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// normalise replaces what differs between builds and runs: rtbuild's own
// version (set at link time) and the given temporary directories.
func normalise(s string, dirs ...string) []byte {
	for _, d := range dirs {
		s = strings.ReplaceAll(s, d, "$DIR")
	}
	s = strings.ReplaceAll(s, "rtbuild "+version+"\n", "rtbuild $VERSION\n")
	s = strings.ReplaceAll(s, "rtbuild version "+version+"\n", "rtbuild version $VERSION\n")
	return []byte(s)
}

func TestRuntimesGoldenMore(t *testing.T) {
	hermetic(t)
	// The embedded catalog on a day with all three statuses.
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runInProcess(t, "runtimes", "--date", "2024-01-01", "--format", format)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			checkGoldenMore(t, "runtimes_"+format, normalise(out))
		})
	}
}

func TestCachePruneGoldenMore(t *testing.T) {
	hermetic(t)
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := writeTestCache(t, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
			before := cacheFiles(t, dir)
			code, out, errOut := runInProcess(t, "cache", "prune", "--cache-dir", dir, "--keep-storage", "3KB", "--dry-run", "--format", format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if format == "table" && errOut != "would remove 2 entries, 4.9 KiB\n" {
				t.Errorf("stderr %q", errOut)
			}
			checkGoldenMore(t, "cache_prune_"+format, normalise(out, dir))
			if after := cacheFiles(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("--dry-run removed files: before %v, after %v", before, after)
			}
		})
	}
}

func TestLockCheckGoldenMore(t *testing.T) {
	hermetic(t)
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runInProcess(t, "lock", "--check", "--catalog", smallCatalog, "--format", format)
			// One arm64 artifact is not pinned: exit 1, and the last line of
			// stderr is the one error line.
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if code != 1 || lines[len(lines)-1] != "rtbuild: some components are not pinned (see the report above)" {
				t.Errorf("exit %d, stderr %q; want exit 1 and the error line last", code, errOut)
			}
			checkGoldenMore(t, "lock_check_"+format, normalise(out))
		})
	}
}

func TestCatalogExportGoldenMore(t *testing.T) {
	hermetic(t)
	code, out, errOut := runInProcess(t, "catalog", "export", "--catalog", smallCatalog)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	checkGoldenMore(t, "catalog_export", normalise(out))

	// The export is a complete catalog: passed back, it exports the same.
	file := filepath.Join(t.TempDir(), "exported.yaml")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	code, again, errOut := runInProcess(t, "catalog", "export", "--catalog", file)
	if code != 0 || again != out {
		t.Errorf("re-export: exit %d, stderr %q, same output: %v", code, errOut, again == out)
	}
}

func TestVersionGoldenMore(t *testing.T) {
	hermetic(t)
	code, out, errOut := runInProcess(t, "version", "--catalog", smallCatalog)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	checkGoldenMore(t, "version", normalise(out))
	code, out, errOut = runInProcess(t, "--version")
	if code != 0 || errOut != "" {
		t.Fatalf("--version: exit %d, stderr %q", code, errOut)
	}
	checkGoldenMore(t, "version_flag", normalise(out))
}

func TestRootHelpGoldenMore(t *testing.T) {
	hermetic(t)
	for _, args := range [][]string{{"--help"}, {"help"}, {}} {
		code, out, errOut := runInProcess(t, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		checkGoldenMore(t, "root_help", normalise(out))
	}
}

// Every command a user can run has a Short, a Long saying what it does and
// Examples; no flag's usage holds a back-quoted word, which pflag would
// print as the flag's value name ("--lock rtbuild lock").
func TestEveryCommandDocumented(t *testing.T) {
	root := newRootCommand(io.Discard, io.Discard)
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Hidden || c.Name() == "help" {
			return
		}
		n++
		// cobra's per-shell completion commands have a generated Long
		// with usage instructions in place of Examples.
		generated := c.HasParent() && c.Parent().Name() == "completion"
		if c.Short == "" || c.Long == "" || (c.Example == "" && !generated) {
			t.Errorf("%s: Short %q, Long set %v, Example set %v; want all three", c.CommandPath(), c.Short, c.Long != "", c.Example != "")
		}
		check := func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: usage %q has a back-quote: pflag prints the quoted word as the value name", c.CommandPath(), f.Name, f.Usage)
			}
			if f.Usage == "" {
				t.Errorf("%s --%s: no usage text", c.CommandPath(), f.Name)
			}
		}
		c.LocalFlags().VisitAll(check)
	}
	walk(root)
	if n < 20 {
		t.Errorf("only %d commands found", n)
	}
}

// Command-line mistakes are usage errors: exit 2 and one line on stderr
// that says what is wrong and where to look.
func TestUsageErrorsExit2(t *testing.T) {
	hermetic(t)
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"image"}, "requires at least 1 arg(s), only received 0; usage: rtbuild image RUNTIME... [flags] (see rtbuild image --help)"},
		{[]string{"fetch"}, "usage: rtbuild fetch RUNTIME... [flags]"},
		{[]string{"rebase", "--onto", "x"}, "usage: rtbuild rebase FUNCTION_REF... --onto RUNTIME_REF [flags]"},
		{[]string{"function", "extra"}, `unknown command "extra" for "rtbuild function"`},
		{[]string{"runtimes", "extra"}, `unknown command "extra" for "rtbuild runtimes"`},
		{[]string{"catalog", "export", "extra"}, `unknown command "extra" for "rtbuild catalog export"`},
		{[]string{"version", "extra"}, "usage: rtbuild version [flags]"},
		{[]string{"imgae", "python3.9"}, `unknown command "imgae" for "rtbuild" (did you mean image?); see rtbuild --help`},
		{[]string{"completion", "tcsh"}, `unknown command "tcsh" for "rtbuild completion"`},
		{[]string{"completion"}, "missing shell: use rtbuild completion bash, zsh, fish or powershell"},
		{[]string{"catalog", "frob"}, `unknown command "frob" for "rtbuild catalog"`},
		{[]string{"catalog"}, "missing subcommand: use rtbuild catalog export"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "rtbuild"; see rtbuild --help`},
		{[]string{"cache", "import", missing + ".tar", "--cache-dir", t.TempDir()}, "cache import: " + missing + ".tar does not exist: give the file rtbuild cache export wrote"},
		{[]string{"inspect", "oci:" + missing}, missing + " is not an OCI image layout (no oci-layout file) (check IMAGE: oci:DIR[:REF] or docker:FILE[:TAG])"},
		// As root with runc, the missing layout is reported; otherwise the
		// preflight check that comes first (root, runc), also exit 2.
		{[]string{"run", "oci:" + missing + ":python3.9"}, ""},
	} {
		code, out, errOut := runInProcess(t, tc.args...)
		line := strings.TrimSuffix(errOut, "\n")
		if code != 2 || out != "" || !strings.HasPrefix(line, "rtbuild: ") || strings.Contains(line, "\n") || !strings.Contains(line, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", tc.args, code, out, errOut, tc.want)
		}
	}
}
