// Package runtest builds the small images the tests of `rtbuild run` run: a
// static Go program standing in for the Runtime Interface Emulator, compiled
// in the test, in a Lambda-shaped image written as an OCI layout.
package runtest

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

// fakeRIE listens on 127.0.0.1:8080 like the emulator and answers an
// invocation with a JSON report of what it sees. Its handler argument picks
// a behaviour: "crash" exits 3 at once, "hang" never answers, "stubborn"
// also ignores SIGTERM, "deaf" never listens, "slow" answers after a
// second, "error" answers with a function error payload, "broken" answers
// HTTP 502 with no body (what the emulator does when the runtime fails).
const fakeRIE = `package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	handler := strings.Join(os.Args[1:], " ")
	switch {
	case strings.HasPrefix(handler, "crash"):
		fmt.Fprintln(os.Stderr, "fake-rie: crashing as asked")
		os.Exit(3)
	case strings.HasPrefix(handler, "stubborn"):
		signal.Ignore(syscall.SIGTERM)
	case strings.HasPrefix(handler, "deaf"):
		fmt.Fprintln(os.Stderr, "fake-rie: not listening, as asked")
		for {
			time.Sleep(time.Hour)
		}
	}
	fmt.Fprintln(os.Stderr, "fake-rie: listening on 127.0.0.1:8080 for", handler)
	http.HandleFunc("/2015-03-31/functions/function/invocations", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		event, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(handler, "hang") || strings.HasPrefix(handler, "stubborn") {
			select {}
		}
		if strings.HasPrefix(handler, "slow") {
			time.Sleep(time.Second)
		}
		if strings.HasPrefix(handler, "broken") {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if strings.HasPrefix(handler, "error") {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			fmt.Fprint(w, ` + "`" + `{"errorMessage":"boom","errorType":"Error"}` + "`" + `)
			return
		}
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		cwd, _ := os.Getwd()
		host, _ := os.Hostname()
		rootErr := os.WriteFile("/rootfs-write-test", []byte("x"), 0o644)
		tmpErr := os.WriteFile("/tmp/tmp-write-test", []byte("x"), 0o644)
		_, goneErr := os.Stat("/var/task/deleted.txt")
		kept, _ := os.ReadFile("/var/task/kept.txt")
		json.NewEncoder(w).Encode(map[string]any{
			"args":         os.Args,
			"handler":      handler,
			"event":        json.RawMessage(event),
			"env":          env,
			"cwd":          cwd,
			"pid":          os.Getpid(),
			"hostname":     host,
			"rootWritable": rootErr == nil,
			"tmpWritable":  tmpErr == nil,
			"deletedGone":  os.IsNotExist(goneErr),
			"kept":         string(kept),
		})
	})
	if err := http.ListenAndServe("127.0.0.1:8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, "fake-rie:", err)
		os.Exit(1)
	}
}
`

// Report is what the fake emulator answers.
type Report struct {
	Args         []string          `json:"args"`
	Handler      string            `json:"handler"`
	Event        any               `json:"event"`
	Env          map[string]string `json:"env"`
	Cwd          string            `json:"cwd"`
	PID          int               `json:"pid"`
	Hostname     string            `json:"hostname"`
	RootWritable bool              `json:"rootWritable"`
	TmpWritable  bool              `json:"tmpWritable"`
	DeletedGone  bool              `json:"deletedGone"`
	Kept         string            `json:"kept"`
}

// FakeRIEPath is where the fake emulator is in the image (its entrypoint).
const FakeRIEPath = "/usr/local/bin/fake-rie"

// BuildFakeRIE compiles the fake emulator, statically, for arch.
func BuildFakeRIE(t testing.TB, arch images.Arch) []byte {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module fakerie\n\ngo 1.22\n")
	write("main.go", fakeRIE)
	bin := filepath.Join(dir, "fake-rie")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch.OCI(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake emulator: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// File is one tar entry of a test layer.
type File struct {
	Name     string
	Type     byte // tar.TypeReg when 0
	Mode     int64
	Content  []byte
	Linkname string
}

// Tar returns the entries as an uncompressed tar stream.
func Tar(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		typ := f.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Name: f.Name, Typeflag: typ, Mode: mode, Linkname: f.Linkname, ModTime: time.Unix(1600000000, 0), Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(f.Content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(f.Content); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Layer makes a gzip-compressed OCI layer of the entries.
func Layer(t testing.TB, files ...File) v1.Layer {
	t.Helper()
	raw := Tar(t, files...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Image is a Lambda-shaped image for arch: the fake emulator as its
// ENTRYPOINT, CMD ["app.handler"], WORKDIR /var/task, an environment with
// IMAGE_VAR=from-image, and two layers, the second of which deletes
// /var/task/deleted.txt with a whiteout.
func Image(t testing.TB, arch images.Arch, rie []byte) v1.Image {
	t.Helper()
	l1 := Layer(t,
		File{Name: "usr/", Type: tar.TypeDir},
		File{Name: "usr/local/", Type: tar.TypeDir},
		File{Name: "usr/local/bin/", Type: tar.TypeDir},
		File{Name: "usr/local/bin/fake-rie", Mode: 0o755, Content: rie},
		File{Name: "var/", Type: tar.TypeDir},
		File{Name: "var/task/", Type: tar.TypeDir},
		File{Name: "var/task/deleted.txt", Content: []byte("gone")},
		File{Name: "var/task/kept.txt", Content: []byte("old")},
		File{Name: "etc/", Type: tar.TypeDir},
		File{Name: "etc/hosts", Content: []byte("127.0.0.1 localhost\n")},
	)
	l2 := Layer(t,
		File{Name: "var/task/", Type: tar.TypeDir},
		File{Name: "var/task/.wh.deleted.txt"},
		File{Name: "var/task/kept.txt", Content: []byte("new")},
	)
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch.OCI()
	cf.Config.Entrypoint = []string{FakeRIEPath}
	cf.Config.Cmd = []string{"app.handler"}
	cf.Config.WorkingDir = "/var/task"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LAMBDA_TASK_ROOT=/var/task", "IMAGE_VAR=from-image", "AWS_REGION=image-region"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// WriteLayout writes img as an OCI layout in a new temporary directory,
// named ref (the index) and ref-<arch> (the image), and returns the
// directory.
func WriteLayout(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	idx, err := manifests.NewIndex([]v1.Image{img}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := manifests.WriteOCILayout(dir, idx, ref); err != nil {
		t.Fatal(err)
	}
	return dir
}
