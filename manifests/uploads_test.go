package manifests

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestUploadCounter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	o, c := CountUploads(RegistryOptions{})
	client := &http.Client{Transport: o.Transport}
	for _, req := range []struct{ method, path, body string }{
		{http.MethodPatch, "/v2/r/blobs/uploads/1", "0123456789"},
		{http.MethodPut, "/v2/r/blobs/uploads/1?digest=sha256:x", "abc"},
		{http.MethodPut, "/v2/r/manifests/latest", "manifest not counted"},
		{http.MethodPost, "/v2/r/blobs/uploads/", ""},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if c.Blobs() != 1 {
		t.Errorf("counted %d committed blob uploads, want 1", c.Blobs())
	}
	if c.Bytes() != 13 {
		t.Errorf("counted %d bytes, want 13 (blob bodies only)", c.Bytes())
	}
}
