package manifests

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// UploadCounter counts what pushes send to registries: the blob uploads
// committed (PUT .../blobs/uploads/...) and the bytes of their bodies
// (PATCH and PUT); blobs the registry has, and mounts, send none.
type UploadCounter struct {
	blobs, bytes atomic.Int64
	next         http.RoundTripper
}

// CountUploads returns o with its transport wrapped by a new UploadCounter.
func CountUploads(o RegistryOptions) (RegistryOptions, *UploadCounter) {
	c := &UploadCounter{next: o.Transport}
	if c.next == nil {
		c.next = remote.DefaultTransport
	}
	o.Transport = c
	return o, c
}

// Blobs returns the blob uploads committed so far.
func (c *UploadCounter) Blobs() int64 { return c.blobs.Load() }

// Bytes returns the blob bytes uploaded so far.
func (c *UploadCounter) Bytes() int64 { return c.bytes.Load() }

// RoundTrip implements http.RoundTripper.
func (c *UploadCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "/blobs/uploads/") && (req.Method == http.MethodPatch || req.Method == http.MethodPut) {
		if req.Method == http.MethodPut {
			c.blobs.Add(1)
		}
		if req.Body != nil && req.Body != http.NoBody {
			req = req.Clone(req.Context())
			req.Body = &countingBody{ReadCloser: req.Body, n: &c.bytes}
		}
	}
	return c.next.RoundTrip(req)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
