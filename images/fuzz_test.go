package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzCatalogOverlay loads arbitrary bytes as an overlay file: Load must
// return a catalog that validates, or a one-line error naming the file,
// and never panic or hang. The seed corpus is in
// testdata/fuzz/FuzzCatalogOverlay (plus the f.Add seeds below).
func FuzzCatalogOverlay(f *testing.F) {
	for _, s := range []string{
		"",
		"null",
		"version: v2\n",
		"replace: true\n",
		"replace: false\nversion: v2\n",
		"runtimes: [{identifier: java11, sdk: amazon-corretto-11}]\n",
		"runtimes: [{identifier: python3.9, base: al3}]\n",
		"components: {simplejson: null}\n",
		"runtimes:\n  - identifier: java11\n    env: &e {A: b}\n  - identifier: java8.al2\n    env: *e\n",
		"- a\n- b\n",
		"{{{",
		"version: [1, 2]\n",
		"bases: {al1: {architectures: [x86_64, arm64]}}\n",
		"a: &a [*a]\n",
		billionLaughs(6),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "overlay.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		type result struct {
			c   *Catalog
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, err := Load(path)
			done <- result{c, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Load of %d bytes did not return in 10s", len(data))
		}
		if r.err != nil {
			msg := r.err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error is not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, "catalog ") || !strings.Contains(msg, path) {
				t.Fatalf("error does not name the overlay %s: %s", path, msg)
			}
			return
		}
		if r.c == nil {
			t.Fatal("Load returned neither a catalog nor an error")
		}
		if err := r.c.Validate(); err != nil {
			t.Fatalf("Load returned a catalog that does not validate: %v", err)
		}
	})
}

// billionLaughs is a YAML document whose aliases expand to 9^levels nodes.
func billionLaughs(levels int) string {
	var b strings.Builder
	b.WriteString("x0: &a0 [lol]\n")
	for i := 1; i <= levels; i++ {
		p := "*a" + string(rune('0'+i-1))
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestOverlayAliasBomb(t *testing.T) {
	path := writeOverlay(t, "bomb.yaml", billionLaughs(9))
	done := make(chan error, 1)
	go func() { _, err := Load(path); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "catalog "+path) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("got %v, want a one-line error naming %s", err, path)
		}
		t.Log(err)
	case <-time.After(20 * time.Second):
		t.Fatal("Load of an alias bomb did not return in 20s")
	}
}
