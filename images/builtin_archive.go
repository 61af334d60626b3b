package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	nodejsric "github.com/rtbuild/rtbuild/images/ric/nodejs"
)

// BuiltinArchive returns the tree an archive component's builtin names, as
// an uncompressed, deterministic tar (sorted entries, mode 0644 files, owner
// 0:0, mtime 0) that the layer builder unpacks under the component's dest
// like any downloaded archive.
func BuiltinArchive(name string) ([]byte, error) {
	var files map[string][]byte
	switch name {
	case "nodejs-ric":
		files = nodejsric.Files()
	default:
		return nil, fmt.Errorf("unknown archive builtin %q (have %s)", name, strings.Join(ArchiveBuiltins, ", "))
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		h := &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("builtin %s: %w", name, err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, fmt.Errorf("builtin %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("builtin %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
