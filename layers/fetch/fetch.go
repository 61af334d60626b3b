// Package fetch is rtbuild's content-addressed download store: artifacts are
// fetched over HTTP(S) (after mirror rewriting), hashed while streaming,
// verified against their pinned sha256, and stored atomically under their
// digest. A truncated or mismatching download never enters the store.
//
// Store layout:
//
//	<dir>/sha256/<hex>        the artifacts, read-only, named by their sha256
//	<dir>/urls/<sha256(url)>  the digest of an unpinned URL's last download
//	<dir>/tmp/                downloads in progress (renamed into sha256/ when verified)
//
// Every read re-hashes the stored file; a file that no longer matches its
// name is deleted and fetched again. Downloads go to a unique temporary file
// that is fsynced and renamed, so concurrent goroutines and rtbuild
// processes sharing a store are safe: the last rename of identical content
// wins.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rtbuild/rtbuild/layers/mirror"
)

// Options configure a Store.
type Options struct {
	// Client does the HTTP requests; nil: a client with sane dial, TLS and
	// response-header timeouts and the proxy from the environment.
	Client *http.Client
	// Mirrors rewrite artifact URLs before they are fetched.
	Mirrors mirror.Rules
	// Offline serves only from the store; a miss is an *OfflineError naming the URL.
	Offline bool
	// Progress, if set, is called while downloading (at most every 100ms
	// per download, and once at the start and end). It may be called from
	// several goroutines at once.
	Progress func(Progress)
	// Retries is how many times a transient failure (5xx, 408, 429,
	// connection reset, truncated body, stalled transfer) is retried with
	// exponential backoff; 0 means DefaultRetries, negative means none.
	Retries int
}

// DefaultRetries is the number of retries of a transient failure.
const DefaultRetries = 3

// Progress reports a download's progress. Total is -1 when the server did
// not send a Content-Length.
type Progress struct {
	URL         string
	Done, Total int64
}

// Artifact is a verified file in the store.
type Artifact struct {
	URL        string // as asked (before mirror rewriting)
	FetchedURL string // after mirror rewriting
	SHA256     string // hex
	Path       string // file in the store, read-only
	Size       int64
	Downloaded int64 // bytes transferred by this call (0: store hit)
	// Warning is set when the artifact was not pinned: it says which digest to pin.
	Warning string
}

// Store is the download store. It is safe for concurrent use, also by
// several processes sharing the directory.
type Store struct {
	dir      string
	client   *http.Client
	mirrors  mirror.Rules
	offline  bool
	progress func(Progress)
	retries  int

	backoff time.Duration // wait before the first retry; doubles each retry
	maxWait time.Duration // cap of one wait, also of a server's Retry-After
	stall   time.Duration // a download that receives nothing for this long fails (transiently)

	locks keyedLocks
}

// NewStore opens (creating it if needed) the store in dir. Temporary files
// older than a day, left by crashed processes, are removed.
func NewStore(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("download store: no directory given")
	}
	for _, d := range []string{"sha256", "urls", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("download store: %w", err)
		}
	}
	s := &Store{
		dir:      dir,
		client:   opts.Client,
		mirrors:  opts.Mirrors,
		offline:  opts.Offline,
		progress: opts.Progress,
		retries:  opts.Retries,
		backoff:  500 * time.Millisecond,
		maxWait:  30 * time.Second,
		stall:    60 * time.Second,
	}
	if s.client == nil {
		s.client = defaultClient()
	}
	switch {
	case s.retries == 0:
		s.retries = DefaultRetries
	case s.retries < 0:
		s.retries = 0
	}
	s.removeStaleTemps(24 * time.Hour)
	return s, nil
}

func defaultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: tr}
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Fetch returns the artifact named by url, verified against sha256 (hex,
// optionally prefixed "sha256:"; empty: unpinned, the computed digest is
// returned and a Warning set). A verified copy in the store is returned
// without any network access. Errors are a *DigestMismatchError, an
// *UnreachableError, an *OfflineError, the context's error, or a local
// I/O error.
func (s *Store) Fetch(ctx context.Context, url, sha256 string) (*Artifact, error) {
	want, err := normalizeDigest(sha256)
	if err != nil {
		return nil, fmt.Errorf("invalid sha256 %q for %s: want 64 hex digits", sha256, url)
	}
	fetched := s.mirrors.Rewrite(url)

	lockKey := want
	if want == "" {
		lockKey = "url:" + url
	}
	if err := s.locks.lock(ctx, lockKey); err != nil {
		return nil, err
	}
	defer s.locks.unlock(lockKey)

	a, err := s.lookup(url, want)
	if err != nil {
		return nil, err
	}
	if a != nil {
		a.FetchedURL = fetched
		return a, nil
	}
	if s.offline {
		return nil, &OfflineError{URL: url}
	}
	return s.downloadWithRetry(ctx, url, fetched, want)
}

// lookup returns the verified artifact from the store, or nil on a miss. A
// stored file whose content does not match its name is deleted.
func (s *Store) lookup(url, want string) (*Artifact, error) {
	digest := want
	if digest == "" {
		b, err := os.ReadFile(s.urlPath(url))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("download store: %w", err)
		}
		digest, err = normalizeDigest(strings.TrimSpace(string(b)))
		if err != nil || digest == "" {
			_ = os.Remove(s.urlPath(url))
			return nil, nil
		}
	}
	p := s.blobPath(digest)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("download store: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("download store: reading %s: %w", p, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		// Corrupt: discard it, unless someone already replaced it.
		if fi, err1 := f.Stat(); err1 == nil {
			if pi, err2 := os.Stat(p); err2 == nil && os.SameFile(fi, pi) {
				_ = os.Remove(p)
			}
		}
		return nil, nil
	}
	a := &Artifact{URL: url, SHA256: digest, Path: p, Size: size}
	if want == "" {
		a.Warning = unpinnedWarning(url, digest)
	}
	return a, nil
}

func unpinnedWarning(url, digest string) string {
	return fmt.Sprintf("%s is not pinned: add sha256: %s to its catalog entry", url, digest)
}

func (s *Store) blobPath(hex string) string { return filepath.Join(s.dir, "sha256", hex) }

func (s *Store) urlPath(url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(s.dir, "urls", hex.EncodeToString(sum[:]))
}

func (s *Store) tmpDir() string { return filepath.Join(s.dir, "tmp") }

func (s *Store) removeStaleTemps(age time.Duration) {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			_ = os.Remove(filepath.Join(s.tmpDir(), e.Name()))
		}
	}
}

// normalizeDigest returns the lower-case hex of a "sha256:HEX" or "HEX"
// digest; "" stays "".
func normalizeDigest(d string) (string, error) {
	d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "sha256:"))
	if d == "" {
		return "", nil
	}
	if len(d) != 64 {
		return "", errors.New("bad digest length")
	}
	if _, err := hex.DecodeString(d); err != nil {
		return "", err
	}
	return d, nil
}

// keyedLocks serialises work on one key within the process (so two
// goroutines fetching the same artifact download it once), waiting
// context-aware.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{}
	refs int
}

func (k *keyedLocks) lock(ctx context.Context, key string) error {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		k.release(key, false)
		return ctx.Err()
	}
}

func (k *keyedLocks) unlock(key string) { k.release(key, true) }

func (k *keyedLocks) release(key string, held bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.m[key]
	if held {
		<-l.ch
	}
	if l.refs--; l.refs == 0 {
		delete(k.m, key)
	}
}
