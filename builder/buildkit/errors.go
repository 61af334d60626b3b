package buildkit

import (
	"errors"
	"regexp"
	"strings"

	"google.golang.org/grpc/status"

	"github.com/rtbuild/rtbuild/layers/fetch"
)

// oneLine folds a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cleanError is BuildKit's error without the solver's wrapping: the gRPC
// status, "failed to solve:" and the like, on one line.
func cleanError(err error) string {
	msg := err.Error()
	if st, ok := status.FromError(err); ok && st.Message() != "" {
		msg = st.Message()
	}
	for _, p := range []string{
		"failed to solve: ", "failed to compute cache key: ", "failed to load cache key: ",
		"failed to run Build function: ", "rpc error: code = Unknown desc = ", "solve: ",
	} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return oneLine(msg)
}

// BuildKit's HTTP source errors for a download whose digest is not its
// checksum: "digest mismatch for URL: GOT (expected: WANT)" and "digest
// mismatch GOT: WANT".
var (
	digestMismatchURL = regexp.MustCompile(`digest mismatch for \S+: sha256:([0-9a-f]{64}) \(expected: sha256:([0-9a-f]{64})\)`)
	digestMismatch    = regexp.MustCompile(`digest mismatch sha256:([0-9a-f]{64}): sha256:([0-9a-f]{64})`)
)

// componentCause is the cause of a component vertex's failure: a
// *fetch.DigestMismatchError naming the catalog URL when buildkitd fetched
// an artifact whose digest is not the pinned one (the CLI's integrity exit
// code, and the native executor's message), else the cleaned message.
func componentCause(err error, url string) error {
	msg := cleanError(err)
	for _, re := range []*regexp.Regexp{digestMismatchURL, digestMismatch} {
		if m := re.FindStringSubmatch(msg); m != nil && url != "" {
			return &fetch.DigestMismatchError{URL: url, Expected: m[2], Got: m[1]}
		}
	}
	return errors.New(msg)
}
