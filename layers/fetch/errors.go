package fetch

import "fmt"

// DigestMismatchError is returned when a downloaded artifact does not have
// its pinned digest. The download is discarded.
type DigestMismatchError struct{ URL, Expected, Got string }

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("digest mismatch for %s: expected sha256:%s, got sha256:%s", e.URL, e.Expected, e.Got)
}

// UnreachableError is returned when an artifact cannot be downloaded: a
// network failure, an HTTP error status, or transient failures that lasted
// past the retries. Err says what happened (and names the mirror URL when
// one was used).
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot fetch %s: %v (use --mirror FROM=TO to fetch it from a mirror)", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// OfflineError is returned in offline mode for an artifact that is not in
// the download store.
type OfflineError struct{ URL string }

func (e *OfflineError) Error() string {
	return fmt.Sprintf("%s is not in the download store and rtbuild is offline: run once online to fetch it", e.URL)
}
