package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown runtime", []string{"image", "pyhton3.9"}, []string{`unknown runtime "pyhton3.9"`, "python3.9"}},
		{"arm64 on AL1", []string{"image", "python3.7", "--arch", "arm64"}, []string{"python3.7", "arm64", "python3.9"}},
		{"arm64 on go1.x", []string{"image", "go1.x", "--arch", "aarch64"}, []string{"go1.x", "provided.al2"}},
		{"bad arch", []string{"image", "python3.9", "--arch", "mips"}, []string{`"mips"`, "x86_64", "arm64"}},
		{"phase 2 deprecated", []string{"image", "python2.7"}, []string{"python2.7", "2021-07-15", "2022-05-30", "--allow-deprecated"}},
		{"bad output", []string{"image", "python3.9", "--output", "zip:x"}, []string{"--output", "oci:DIR", "docker:FILE"}},
		{"push without placeholder", []string{"image", "python3.9", "nodejs14.x", "--push", "127.0.0.1:1/x:y"}, []string{"{runtime}"}},
		{"bad mirror", []string{"image", "python3.9", "--mirror", "nonsense"}, []string{"nonsense"}},
		{"missing catalog file", []string{"runtimes", "--catalog", "/nonexistent/c.yaml"}, []string{"/nonexistent/c.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r := cli(t, dir, nil, append(c.args, "--cache-dir", filepath.Join(dir, "cache"))...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			line := oneLineError(t, r)
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not mention %q", line, w)
				}
			}
			assertNothingWritten(t, dir)
		})
	}
}

// TestInvalidCatalogNamesFileRuntimeAndField checks a broken overlay.
func TestInvalidCatalogNamesFileRuntimeAndField(t *testing.T) {
	dir := t.TempDir()
	overlay := filepath.Join(dir, "broken.yaml")
	os.WriteFile(overlay, []byte("runtimes:\n  - identifier: python3.9\n    base: al9\n"), 0o644)
	r := cli(t, dir, nil, "runtimes", "--catalog", overlay)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", r.code, r.stderr)
	}
	line := oneLineError(t, r)
	for _, w := range []string{"broken.yaml", "python3.9", "base", "al9"} {
		if !strings.Contains(line, w) {
			t.Errorf("error %q does not mention %q", line, w)
		}
	}
}

// assertNothingWritten fails if dir holds anything but an empty cache tree.
func assertNothingWritten(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, "rtbuild-out")); err == nil {
		t.Errorf("an output directory was created")
	}
}

// TestIntegrityAndUpstreamErrors: a tampered artifact and an unreachable
// upstream each fail with one line, the right exit code, and leave the
// previous output intact and no partial file in the cache or outputs.
func TestIntegrityAndUpstreamErrors(t *testing.T) {
	w := testworld.Start(t)
	work := t.TempDir()
	out := filepath.Join(work, "out")
	rt := "provided.al2"
	good := mustCLI(t, work, nil, append([]string{"image", rt, "--cache-dir", filepath.Join(work, "cache-good"), "--output", "oci:" + out}, w.Args()...)...)
	_ = good
	indexBefore, err := os.ReadFile(filepath.Join(out, "index.json"))
	if err != nil {
		t.Fatal(err)
	}

	// Tamper with the emulator for x86_64.
	cat, _ := images.Load()
	rieURL := ""
	r, _ := cat.Runtime(rt)
	for _, key := range r.Components {
		for _, s := range images.ComponentSources(cat.Components[key], images.X86_64) {
			if rieURL == "" {
				rieURL = s.URL
			}
		}
	}
	if rieURL == "" {
		t.Fatal("provided.al2 has no downloaded artifact")
	}
	w.Artifacts.Override(rieURL, []byte("tampered\n"))
	cacheDir := filepath.Join(work, "cache-bad")
	res := cli(t, work, nil, append([]string{"image", rt, "--cache-dir", cacheDir, "--output", "oci:" + out}, w.Args()...)...)
	if res.code != 3 {
		t.Fatalf("tampered artifact: exit %d, want 3:\n%s", res.code, res.stderr)
	}
	line := oneLineError(t, res)
	for _, want := range []string{rieURL, "expected sha256:", "got sha256:"} {
		if !strings.Contains(line, want) {
			t.Errorf("error %q does not mention %q", line, want)
		}
	}
	indexAfter, err := os.ReadFile(filepath.Join(out, "index.json"))
	if err != nil || string(indexAfter) != string(indexBefore) {
		t.Errorf("previous output not intact after a failed build (%v)", err)
	}
	assertNoTemporaries(t, work)
	// The tampered bytes never entered the download store.
	filepath.Walk(cacheDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			if string(b) == "tampered\n" {
				t.Errorf("tampered artifact stored at %s", p)
			}
		}
		return nil
	})

	// An unreachable upstream: every URL mirrored to a closed port.
	port := testworld.FreePort(t)
	args := []string{"image", rt, "--cache-dir", filepath.Join(work, "cache-unreachable"), "--output", "oci:" + filepath.Join(work, "never"), "--catalog", w.CatalogFile}
	for _, m := range w.Mirrors {
		from, to, _ := strings.Cut(m, "=")
		if strings.HasPrefix(to, "http://") {
			to = "http://127.0.0.1:" + strconv.Itoa(port) + "/"
		}
		args = append(args, "--mirror", from+"="+to)
	}
	res = cli(t, work, nil, args...)
	if res.code != 4 {
		t.Fatalf("unreachable upstream: exit %d, want 4:\n%s", res.code, res.stderr)
	}
	line = oneLineError(t, res)
	for _, want := range []string{"127.0.0.1:" + strconv.Itoa(port), "--mirror"} {
		if !strings.Contains(line, want) {
			t.Errorf("error %q does not mention %q", line, want)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "never")); err == nil {
		t.Errorf("output written by a failed build")
	}
	assertNoTemporaries(t, work)
}

// assertNoTemporaries fails on leftover temporary files or directories.
func assertNoTemporaries(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		base := filepath.Base(p)
		if strings.Contains(base, ".tmp") || strings.HasPrefix(base, ".rtbuild-") || strings.Contains(base, "tmp-") {
			t.Errorf("temporary left behind: %s", p)
		}
		return nil
	})
}
