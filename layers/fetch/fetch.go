// Package fetch is rtbuild's content-addressed download store: artifacts are
// fetched over HTTP(S) (after mirror rewriting), hashed while streaming,
// verified against their pinned sha256, and stored atomically under their
// digest. A truncated or mismatching download never enters the store.
package fetch

// Contract (bodies elsewhere in this package):
//
//   type Store struct{ ... }
//   type Options struct {
//       Client   *http.Client         // nil: a client with sane timeouts, proxy from env
//       Mirrors  mirror.Rules
//       Offline  bool                 // only the store; a miss is an error naming the URL
//       Progress func(Progress)       // optional, called while downloading
//   }
//   func NewStore(dir string, opts Options) (*Store, error)
//   // Fetch returns the artifact named by url, verified against sha256 (hex;
//   // empty: unpinned, the computed digest is returned and a Warning set).
//   func (s *Store) Fetch(ctx context.Context, url, sha256 string) (*Artifact, error)
//   type Artifact struct {
//       URL        string // as asked (before mirror rewriting)
//       FetchedURL string // after mirror rewriting
//       SHA256     string
//       Path       string // file in the store, read-only
//       Size       int64
//       Downloaded int64  // bytes transferred by this call (0: store hit)
//   }
//   type Progress struct{ URL string; Done, Total int64 }
//   // Errors (errors.As-able):
//   type DigestMismatchError struct{ URL, Expected, Got string }
//     -> "digest mismatch for URL: expected sha256:E, got sha256:G"
//   type UnreachableError struct{ URL string; Err error }
//     -> "cannot fetch URL: ERR (use --mirror FROM=TO to fetch it from a mirror)"
