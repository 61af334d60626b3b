package fetch

import (
	"fmt"
	"net/url"
	"strings"
)

// redacted is rawURL with any password replaced by "xxxxx", for messages.
func redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	return u.Redacted()
}

// DigestMismatchError is returned when a downloaded artifact does not have
// its pinned digest. The download is discarded.
type DigestMismatchError struct{ URL, Expected, Got string }

func (e *DigestMismatchError) Error() string {
	msg := fmt.Sprintf("digest mismatch for %s: expected sha256:%s, got sha256:%s", redacted(e.URL), e.Expected, e.Got)
	if strings.Contains(e.URL, "://") { // an artifact, not a stored blob
		msg += " (" + mismatchHint + ")"
	}
	return msg
}

// mismatchHint ends an artifact's digest mismatch message: what to do.
const mismatchHint = "the file is not the one pinned: check that a --mirror serves the publisher's file, or, if the publisher replaced it, pin the new sha256 with a --catalog overlay"

// UnreachableError is returned when an artifact cannot be downloaded: a
// network failure, an HTTP error status, or transient failures that lasted
// past the retries. Err says what happened (and names the mirror URL when
// one was used).
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot fetch %s: %v (use --mirror FROM=TO to fetch it from a mirror)", redacted(e.URL), e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// OfflineError is returned in offline mode for an artifact that is not in
// the download store.
type OfflineError struct{ URL string }

func (e *OfflineError) Error() string {
	return fmt.Sprintf("%s is not in the download store and rtbuild is offline: run once online to fetch it", redacted(e.URL))
}
