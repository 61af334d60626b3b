package fetch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// OpenBlob opens the stored blob with the given hex sha256, verified; ok is
// false when it is absent or was corrupt (and then discarded). Base-image
// layers are kept here so that a rebuild does not fetch them again.
func (s *Store) OpenBlob(hexDigest string) (rc io.ReadCloser, ok bool) {
	want, err := normalizeDigest(hexDigest)
	if err != nil || want == "" {
		return nil, false
	}
	a, err := s.lookup("", want)
	if err != nil || a == nil {
		return nil, false
	}
	f, err := os.Open(a.Path)
	if err != nil {
		return nil, false
	}
	return f, true
}

// PutBlob stores the content of r under hexDigest, verifying it while
// writing (temporary file, fsync, rename); it returns the bytes read. A
// mismatching or failed copy leaves nothing in the store.
func (s *Store) PutBlob(hexDigest string, r io.Reader) (int64, error) {
	want, err := normalizeDigest(hexDigest)
	if err != nil || want == "" {
		return 0, fmt.Errorf("download store: invalid digest %q", hexDigest)
	}
	tmp, err := os.CreateTemp(s.tmpDir(), "blob-*")
	if err != nil {
		return 0, fmt.Errorf("download store: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return n, fmt.Errorf("download store: copying blob sha256:%s: %w", want, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return n, &DigestMismatchError{URL: "blob", Expected: want, Got: got}
	}
	if _, err := s.commit(tmp, want); err != nil {
		return n, err
	}
	committed = true
	return n, nil
}

// BlobPath is where the blob with the given hex sha256 is (or would be) stored.
func (s *Store) BlobPath(hexDigest string) string { return s.blobPath(hexDigest) }
