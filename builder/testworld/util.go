package testworld

import (
	"bytes"
	"io"
)

type ioReadCloser = io.ReadCloser

func nopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
