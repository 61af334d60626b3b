package run

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/rtbuild/rtbuild/builder/run/runtest"
)

type rf = runtest.File

func extract(t *testing.T, files ...rf) (string, error) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, ExtractTar(context.Background(), bytes.NewReader(runtest.Tar(t, files...)), root)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnpackHonoursWhiteouts(t *testing.T) {
	lower := runtest.Layer(t,
		rf{Name: "etc/", Type: tar.TypeDir},
		rf{Name: "etc/keep", Content: []byte("lower")},
		rf{Name: "etc/gone", Content: []byte("x")},
		rf{Name: "opaque/", Type: tar.TypeDir},
		rf{Name: "opaque/old", Content: []byte("x")},
		rf{Name: "dir/", Type: tar.TypeDir},
		rf{Name: "dir/sub/", Type: tar.TypeDir},
		rf{Name: "dir/sub/file", Content: []byte("x")},
	)
	upper := runtest.Layer(t,
		rf{Name: "etc/", Type: tar.TypeDir},
		rf{Name: "etc/.wh.gone"},
		rf{Name: "etc/keep", Content: []byte("upper")},
		rf{Name: "opaque/", Type: tar.TypeDir},
		rf{Name: "opaque/.wh..wh..opq"},
		rf{Name: "opaque/new", Content: []byte("y")},
		rf{Name: ".wh.dir"},
	)
	img, err := mutate.AppendLayers(empty.Image, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := Unpack(context.Background(), img, root); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "etc/keep")); got != "upper" {
		t.Errorf("etc/keep = %q, want the upper layer's", got)
	}
	for _, p := range []string{"etc/gone", "opaque/old", "dir", "etc/.wh.gone", "opaque/.wh..wh..opq", ".wh.dir"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s exists (err %v), want it whited out", p, err)
		}
	}
	if got := readFile(t, filepath.Join(root, "opaque/new")); got != "y" {
		t.Errorf("opaque/new = %q", got)
	}
}

func TestExtractKeepsModesLinksAndTimes(t *testing.T) {
	root, err := extract(t,
		rf{Name: "bin/", Type: tar.TypeDir},
		rf{Name: "bin/tool", Mode: 0o4755, Content: []byte("#!/bin/sh\n")},
		rf{Name: "bin/alias", Type: tar.TypeSymlink, Linkname: "tool"},
		rf{Name: "bin/hard", Type: tar.TypeLink, Linkname: "bin/tool"},
		rf{Name: "ro/", Type: tar.TypeDir, Mode: 0o555},
		rf{Name: "ro/inside", Mode: 0o600, Content: []byte("x")},
		rf{Name: "sticky/", Type: tar.TypeDir, Mode: 0o1777},
		rf{Name: "fifo", Type: tar.TypeFifo, Mode: 0o644},
		rf{Name: "dev/", Type: tar.TypeDir},
		rf{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666},
		rf{Name: "./", Type: tar.TypeDir, Mode: 0o755},
	)
	if err != nil {
		t.Fatal(err)
	}
	mode := func(p string) fs.FileMode {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	if m := mode("bin/tool"); m != fs.ModeSetuid|0o755 {
		t.Errorf("bin/tool mode %v, want setuid 0755", m)
	}
	if m := mode("ro"); m != fs.ModeDir|0o555 {
		t.Errorf("ro mode %v", m)
	}
	if m := mode("sticky"); m != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Errorf("sticky mode %v", m)
	}
	if m := mode("fifo"); m.Type() != fs.ModeNamedPipe {
		t.Errorf("fifo mode %v", m)
	}
	if l, err := os.Readlink(filepath.Join(root, "bin/alias")); err != nil || l != "tool" {
		t.Errorf("bin/alias -> %q, %v", l, err)
	}
	a, _ := os.Stat(filepath.Join(root, "bin/tool"))
	b, _ := os.Stat(filepath.Join(root, "bin/hard"))
	if !os.SameFile(a, b) {
		t.Errorf("bin/hard is not a hard link of bin/tool")
	}
	if st := a.Sys().(*syscall.Stat_t); st.Nlink != 2 {
		t.Errorf("bin/tool has %d links", st.Nlink)
	}
	if !a.ModTime().Equal(time.Unix(1600000000, 0)) {
		t.Errorf("bin/tool mtime %v", a.ModTime())
	}
	if fi, _ := os.Stat(filepath.Join(root, "ro")); !fi.ModTime().Equal(time.Unix(1600000000, 0)) {
		t.Errorf("ro mtime %v, want the entry's (directories are finished last)", fi.ModTime())
	}
	if _, err := os.Lstat(filepath.Join(root, "dev/null")); !os.IsNotExist(err) {
		t.Errorf("device node dev/null was created (%v); runc provides /dev", err)
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil", "a/../../evil", "/../evil", ".."} {
		t.Run(name, func(t *testing.T) {
			_, err := extract(t, rf{Name: name, Content: []byte("x")})
			if err == nil || !strings.Contains(err.Error(), "outside the root file system") {
				t.Fatalf("err = %v, want a refusal", err)
			}
		})
	}
	t.Run("hardlink", func(t *testing.T) {
		_, err := extract(t, rf{Name: "h", Type: tar.TypeLink, Linkname: "../../etc/passwd"})
		if err == nil || !strings.Contains(err.Error(), "outside the root file system") {
			t.Fatalf("err = %v, want a refusal", err)
		}
	})
}

func TestExtractNeverWritesThroughLinksOutside(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := extract(t,
		rf{Name: "abs", Type: tar.TypeSymlink, Linkname: outside},
		rf{Name: "abs/pwned", Content: []byte("x")},
		rf{Name: "rel", Type: tar.TypeSymlink, Linkname: "../../../../../../.." + outside},
		rf{Name: "rel/pwned2", Content: []byte("x")},
		rf{Name: "abs/secret", Content: []byte("overwritten")},
	)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 || readFile(t, secret) != "host" {
		t.Fatalf("something was written outside the root: %v", ents)
	}
	// The links resolve as if the root were "/".
	for _, p := range []string{"pwned", "pwned2", "secret"} {
		if _, err := os.Stat(filepath.Join(root, outside, p)); err != nil {
			t.Errorf("%s not under the root: %v", p, err)
		}
	}

	// A hard link to a host file through a link is not made.
	_, err = extract(t,
		rf{Name: "abs", Type: tar.TypeSymlink, Linkname: outside},
		rf{Name: "h", Type: tar.TypeLink, Linkname: "abs/secret"},
	)
	if err == nil || !strings.Contains(err.Error(), "not in the image") {
		t.Fatalf("err = %v, want the hard link refused", err)
	}
	if fi, _ := os.Stat(secret); fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		t.Fatal("the host file got a hard link")
	}
}

// mutate.Extract lists upper layers first: an upper layer's file under
// lib64/ comes before the lower layer's lib64 -> usr/lib64 link.
func TestExtractUpperFirstThroughLowerSymlink(t *testing.T) {
	root, err := extract(t,
		rf{Name: "lib64/ld.so", Content: []byte("upper")},
		rf{Name: "lib64", Type: tar.TypeSymlink, Linkname: "usr/lib64"},
		rf{Name: "usr/", Type: tar.TypeDir},
		rf{Name: "usr/lib64/", Type: tar.TypeDir},
		rf{Name: "usr/lib64/ld.so", Content: []byte("lower")},
		rf{Name: "usr/lib64/libc.so", Content: []byte("libc")},
	)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(root, "lib64")); err != nil || l != "usr/lib64" {
		t.Fatalf("lib64 -> %q, %v; want the lower layer's link", l, err)
	}
	if got := readFile(t, filepath.Join(root, "usr/lib64/ld.so")); got != "upper" {
		t.Errorf("usr/lib64/ld.so = %q, want the upper layer's", got)
	}
	if got := readFile(t, filepath.Join(root, "lib64/libc.so")); got != "libc" {
		t.Errorf("lib64/libc.so = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "lib64.rtbuild-moving")); !os.IsNotExist(err) {
		t.Errorf("a temporary directory was left: %v", err)
	}
}

func TestExtractCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ExtractTar(ctx, bytes.NewReader(runtest.Tar(t, rf{Name: "a"})), t.TempDir())
	if err != context.Canceled {
		t.Fatalf("err = %v", err)
	}
}
