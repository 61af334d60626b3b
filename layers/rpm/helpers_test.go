package rpm

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/resolve"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

// serveDir serves dir over HTTP on 127.0.0.1 for the test's duration.
func serveDir(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

func opts(t *testing.T) resolve.Options {
	return resolve.Options{Retries: -1}
}

func ctx(t *testing.T) context.Context {
	return t.Context()
}

// tarEntry is what a test reads back from a layer.
type tarEntry struct {
	typ      byte
	mode     int64
	linkname string
	uid, gid int
	mtime    time.Time
	body     string
}

var testEpoch = time.Unix(1700000000, 0).UTC()

// install runs Install for each RPM into one layer and reads it back.
func install(t *testing.T, o InstallOptions, rpms ...string) (map[string]tarEntry, []string, error) {
	t.Helper()
	var buf bytes.Buffer
	w := unpack.NewWriter(&buf, testEpoch)
	for _, r := range rpms {
		if err := Install(w, r, "https://repo.test/"+r, o); err != nil {
			return nil, nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	return readTar(t, buf.Bytes())
}

func readTar(t *testing.T, b []byte) (map[string]tarEntry, []string, error) {
	t.Helper()
	out := map[string]tarEntry{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, order, nil
		}
		if err != nil {
			t.Fatalf("reading the layer back: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = tarEntry{typ: h.Typeflag, mode: h.Mode, linkname: h.Linkname, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, body: string(body)}
		order = append(order, h.Name)
	}
}
