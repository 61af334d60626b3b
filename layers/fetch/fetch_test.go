package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/mirror"
)

var (
	body     = []byte(strings.Repeat("rtbuild artifact bytes\n", 1000))
	bodyHex  = hexOf(body)
	otherHex = hexOf([]byte("something else"))
)

func hexOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// server serves body at every path; fail, if set, may answer first (return
// true when it did). It counts requests.
type server struct {
	*httptest.Server
	requests atomic.Int64
	fail     func(n int64, w http.ResponseWriter, r *http.Request) bool
}

func newServer(t *testing.T, fail func(n int64, w http.ResponseWriter, r *http.Request) bool) *server {
	s := &server{fail: fail}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		if s.fail != nil && s.fail(n, w, r) {
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func newStore(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := NewStore(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.backoff = time.Millisecond
	s.maxWait = 20 * time.Millisecond
	return s
}

// assertClean fails if a temporary file is left or a blob other than want exists.
func assertClean(t *testing.T, s *Store, want ...string) {
	t.Helper()
	tmps, _ := os.ReadDir(s.tmpDir())
	if len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	blobs, _ := os.ReadDir(filepath.Join(s.dir, "sha256"))
	var names []string
	for _, b := range blobs {
		names = append(names, b.Name())
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("store holds %v, want %v", names, want)
	}
}

func TestFetchPinnedThenHit(t *testing.T) {
	srv := newServer(t, nil)
	var mu sync.Mutex
	var progress []Progress
	s := newStore(t, "", Options{Progress: func(p Progress) {
		mu.Lock()
		progress = append(progress, p)
		mu.Unlock()
	}})
	url := srv.URL + "/dist/node.tar.xz"

	a, err := s.Fetch(context.Background(), url, "sha256:"+strings.ToUpper(bodyHex))
	if err != nil {
		t.Fatal(err)
	}
	if a.URL != url || a.FetchedURL != url || a.SHA256 != bodyHex || a.Size != int64(len(body)) ||
		a.Downloaded != int64(len(body)) || a.Warning != "" || a.Path != filepath.Join(s.dir, "sha256", bodyHex) {
		t.Fatalf("first fetch: %+v", a)
	}
	got, err := os.ReadFile(a.Path)
	if err != nil || string(got) != string(body) {
		t.Fatalf("stored file: %v", err)
	}
	if fi, _ := os.Stat(a.Path); fi.Mode().Perm() != 0o444 {
		t.Errorf("stored file mode %v, want read-only", fi.Mode())
	}
	if len(progress) < 2 || progress[0].Done != 0 || progress[len(progress)-1] != (Progress{URL: url, Done: int64(len(body)), Total: int64(len(body))}) {
		t.Errorf("progress: %v", progress)
	}

	a2, err := s.Fetch(context.Background(), url, bodyHex)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Downloaded != 0 || a2.Path != a.Path || a2.Size != a.Size {
		t.Fatalf("second fetch: %+v", a2)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1 (second fetch must be a store hit)", n)
	}
	assertClean(t, s, bodyHex)
}

func TestFetchThroughMirror(t *testing.T) {
	var paths []string
	srv := newServer(t, func(_ int64, _ http.ResponseWriter, r *http.Request) bool {
		paths = append(paths, r.URL.Path)
		return false
	})
	rules, err := mirror.Parse("https://nodejs.org/dist=" + srv.URL + "/nodejs.org/dist")
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, "", Options{Mirrors: rules})
	url := "https://nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.xz"
	a, err := s.Fetch(context.Background(), url, bodyHex)
	if err != nil {
		t.Fatal(err)
	}
	if a.URL != url || a.FetchedURL != srv.URL+"/nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.xz" {
		t.Fatalf("artifact: %+v", a)
	}
	if fmt.Sprint(paths) != "[/nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.xz]" {
		t.Fatalf("server saw %v", paths)
	}
}

func TestFetchFailures(t *testing.T) {
	tests := []struct {
		name         string
		sha          string
		fail         func(n int64, w http.ResponseWriter, r *http.Request) bool
		wantRequests int64
		check        func(t *testing.T, err error)
	}{
		{
			name:         "digest mismatch",
			sha:          otherHex,
			wantRequests: 1,
			check: func(t *testing.T, err error) {
				var dm *DigestMismatchError
				if !errors.As(err, &dm) {
					t.Fatalf("error %T %v, want *DigestMismatchError", err, err)
				}
				want := fmt.Sprintf("digest mismatch for URL: expected sha256:%s, got sha256:%s (%s)", otherHex, bodyHex, mismatchHint)
				if got := strings.Replace(err.Error(), dm.URL, "URL", 1); got != want {
					t.Fatalf("message %q, want %q", got, want)
				}
			},
		},
		{
			name: "truncated body",
			sha:  bodyHex,
			fail: func(_ int64, w http.ResponseWriter, _ *http.Request) bool {
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				w.Write(body[:len(body)/2])
				return true
			},
			wantRequests: 1 + DefaultRetries,
			check: func(t *testing.T, err error) {
				var ue *UnreachableError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), "(use --mirror FROM=TO to fetch it from a mirror)") {
					t.Fatalf("error %v, want *UnreachableError", err)
				}
			},
		},
		{
			name: "404 not retried",
			sha:  bodyHex,
			fail: func(_ int64, w http.ResponseWriter, _ *http.Request) bool {
				http.NotFound(w, nil)
				return true
			},
			wantRequests: 1,
			check: func(t *testing.T, err error) {
				var ue *UnreachableError
				if !errors.As(err, &ue) {
					t.Fatalf("error %v, want *UnreachableError", err)
				}
				want := "cannot fetch " + ue.URL + ": GET " + ue.URL + ": 404 Not Found (use --mirror FROM=TO to fetch it from a mirror)"
				if err.Error() != want {
					t.Fatalf("message %q, want %q", err.Error(), want)
				}
			},
		},
		{
			name: "503 forever",
			sha:  bodyHex,
			fail: func(_ int64, w http.ResponseWriter, _ *http.Request) bool {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			},
			wantRequests: 1 + DefaultRetries,
			check: func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), "503 Service Unavailable") {
					t.Fatalf("error %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.fail)
			s := newStore(t, "", Options{})
			a, err := s.Fetch(context.Background(), srv.URL+"/a.tar.gz", tt.sha)
			if err == nil {
				t.Fatalf("got %+v, want an error", a)
			}
			tt.check(t, err)
			if n := srv.requests.Load(); n != tt.wantRequests {
				t.Errorf("%d requests, want %d", n, tt.wantRequests)
			}
			assertClean(t, s)
		})
	}
}

func TestFetchRetriesTransient(t *testing.T) {
	tests := []struct {
		name string
		fail func(n int64, w http.ResponseWriter, r *http.Request) bool
	}{
		{"503 then success", func(n int64, w http.ResponseWriter, _ *http.Request) bool {
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		}},
		{"429 with Retry-After then success", func(n int64, w http.ResponseWriter, _ *http.Request) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		}},
		{"connection reset then success", func(n int64, w http.ResponseWriter, _ *http.Request) bool {
			if n == 1 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return true
			}
			return false
		}},
		{"truncated then success", func(n int64, w http.ResponseWriter, _ *http.Request) bool {
			if n == 1 {
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				w.Write(body[:10])
				return true
			}
			return false
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.fail)
			s := newStore(t, "", Options{})
			a, err := s.Fetch(context.Background(), srv.URL+"/a.zip", bodyHex)
			if err != nil {
				t.Fatal(err)
			}
			if a.Downloaded != int64(len(body)) {
				t.Errorf("Downloaded = %d", a.Downloaded)
			}
			if n := srv.requests.Load(); n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
			assertClean(t, s, bodyHex)
		})
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"":      noRetryAfter,
		"junk":  noRetryAfter,
		"-1":    noRetryAfter,
		"0":     0,
		"7":     7 * time.Second,
		"99999": 99999 * time.Second,
	} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
	if d := parseRetryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); d < 59*time.Minute || d > time.Hour {
		t.Errorf("parseRetryAfter(date in 1h) = %v", d)
	}

	s := &Store{backoff: 100 * time.Millisecond, maxWait: time.Second}
	if w := s.wait(1, &fetchError{retryAfter: 300 * time.Millisecond}); w != 300*time.Millisecond {
		t.Errorf("wait with Retry-After 300ms = %v", w)
	}
	if w := s.wait(1, &fetchError{retryAfter: time.Hour}); w != time.Second {
		t.Errorf("wait with Retry-After 1h = %v, want the 1s cap", w)
	}
	for attempt, base := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		w := s.wait(attempt, &fetchError{retryAfter: noRetryAfter})
		if w < base || w > base+base/4 {
			t.Errorf("wait(%d) = %v, want %v plus up to 25%% jitter", attempt, w, base)
		}
	}
}

func TestFetchCancelledDuringBackoff(t *testing.T) {
	srv := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	s := newStore(t, "", Options{})
	s.backoff, s.maxWait = time.Hour, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Fetch(ctx, srv.URL+"/x", bodyHex)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("backoff ignored the context")
	}
}

func TestFetchStalled(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Write(body[:10])
			w.(http.Flusher).Flush()
			<-release
			return true
		}
		return false
	})
	s := newStore(t, "", Options{})
	s.stall = 100 * time.Millisecond
	a, err := s.Fetch(context.Background(), srv.URL+"/x", bodyHex)
	if err != nil {
		t.Fatal(err)
	}
	if a.Downloaded != int64(len(body)) || srv.requests.Load() != 2 {
		t.Fatalf("artifact %+v after %d requests", a, srv.requests.Load())
	}
}

func TestFetchOffline(t *testing.T) {
	srv := newServer(t, nil)
	dir := t.TempDir()
	off := newStore(t, dir, Options{Offline: true})
	url := srv.URL + "/a.tar"

	_, err := off.Fetch(context.Background(), url, bodyHex)
	var oe *OfflineError
	if !errors.As(err, &oe) || oe.URL != url || !strings.Contains(err.Error(), url) {
		t.Fatalf("offline miss: %v", err)
	}
	if srv.requests.Load() != 0 {
		t.Fatal("offline store made a request")
	}

	if _, err := newStore(t, dir, Options{}).Fetch(context.Background(), url, bodyHex); err != nil {
		t.Fatal(err)
	}
	a, err := off.Fetch(context.Background(), url, bodyHex)
	if err != nil || a.Downloaded != 0 {
		t.Fatalf("offline hit: %+v %v", a, err)
	}
	if srv.requests.Load() != 1 {
		t.Fatalf("%d requests, want 1", srv.requests.Load())
	}
}

func TestCorruptStoreFileIsDiscarded(t *testing.T) {
	srv := newServer(t, nil)
	s := newStore(t, "", Options{})
	url := srv.URL + "/a.tar.gz"
	a, err := s.Fetch(context.Background(), url, bodyHex)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(a.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.Path, []byte("bit rot"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Offline: the corrupt file is discarded and reported as a miss.
	off := newStore(t, s.dir, Options{Offline: true})
	var oe *OfflineError
	if _, err := off.Fetch(context.Background(), url, bodyHex); !errors.As(err, &oe) {
		t.Fatalf("offline fetch of a corrupt file: %v", err)
	}
	if _, err := os.Stat(a.Path); !os.IsNotExist(err) {
		t.Fatalf("corrupt file not removed: %v", err)
	}

	a2, err := s.Fetch(context.Background(), url, bodyHex)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Downloaded != int64(len(body)) || srv.requests.Load() != 2 {
		t.Fatalf("refetch: %+v after %d requests", a2, srv.requests.Load())
	}
	got, _ := os.ReadFile(a2.Path)
	if string(got) != string(body) {
		t.Fatal("refetched content differs")
	}
}

func TestFetchUnpinned(t *testing.T) {
	srv := newServer(t, nil)
	s := newStore(t, "", Options{})
	url := srv.URL + "/latest/rie"
	for i, wantDownloaded := range []int64{int64(len(body)), 0} {
		a, err := s.Fetch(context.Background(), url, "")
		if err != nil {
			t.Fatal(err)
		}
		if a.SHA256 != bodyHex || a.Downloaded != wantDownloaded || !strings.Contains(a.Warning, bodyHex) || !strings.Contains(a.Warning, url) {
			t.Fatalf("fetch %d: %+v", i, a)
		}
	}
	if srv.requests.Load() != 1 {
		t.Fatalf("%d requests, want 1", srv.requests.Load())
	}
	// The blob is also a hit for a pinned fetch of the same digest.
	if a, err := s.Fetch(context.Background(), srv.URL+"/other-name", bodyHex); err != nil || a.Downloaded != 0 {
		t.Fatalf("pinned after unpinned: %+v %v", a, err)
	}
}

func TestFetchInvalidDigest(t *testing.T) {
	s := newStore(t, "", Options{})
	for _, d := range []string{"abc", "sha256:" + strings.Repeat("z", 64), bodyHex + "00"} {
		if _, err := s.Fetch(context.Background(), "http://127.0.0.1:1/x", d); err == nil || !strings.Contains(err.Error(), "invalid sha256") {
			t.Errorf("Fetch with sha256 %q: %v", d, err)
		}
	}
}

func TestFetchUnreachableHost(t *testing.T) {
	srv := newServer(t, nil)
	url := srv.URL + "/x"
	srv.Close() // connection refused: not retried
	s := newStore(t, "", Options{})
	_, err := s.Fetch(context.Background(), url, bodyHex)
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.URL != url {
		t.Fatalf("error %v, want *UnreachableError", err)
	}
	assertClean(t, s)
}

func TestConcurrentFetches(t *testing.T) {
	srv := newServer(t, func(int64, http.ResponseWriter, *http.Request) bool {
		time.Sleep(20 * time.Millisecond) // let the fetches overlap
		return false
	})
	dir := t.TempDir()
	// Two stores on one directory stand for two rtbuild processes.
	stores := []*Store{newStore(t, dir, Options{}), newStore(t, dir, Options{})}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := stores[i%2].Fetch(context.Background(), srv.URL+"/a.tar.gz", bodyHex)
			if err == nil {
				var got []byte
				if got, err = os.ReadFile(a.Path); err == nil && string(got) != string(body) {
					err = errors.New("wrong content")
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := srv.requests.Load(); n < 1 || n > 2 {
		t.Errorf("%d requests, want one per store at most", n)
	}
	assertClean(t, stores[0], bodyHex)
}

func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir, Options{})
	stale := filepath.Join(s.tmpDir(), "download-stale")
	fresh := filepath.Join(s.tmpDir(), "download-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(stale, old, old)
	newStore(t, dir, Options{})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temp kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh temp removed (it may be another process's download)")
	}
}

func TestPutBlobAndOpenBlob(t *testing.T) {
	s, err := NewStore(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("base layer bytes")
	sum := sha256.Sum256(body)
	d := hex.EncodeToString(sum[:])
	if _, ok := s.OpenBlob(d); ok {
		t.Fatal("empty store has the blob")
	}
	if _, err := s.PutBlob(d, strings.NewReader("other bytes")); err == nil {
		t.Fatal("PutBlob accepted bytes that do not match the digest")
	}
	if _, ok := s.OpenBlob(d); ok {
		t.Fatal("a mismatching PutBlob left the blob in the store")
	}
	if n, err := s.PutBlob(d, bytes.NewReader(body)); err != nil || n != int64(len(body)) {
		t.Fatalf("PutBlob = %d, %v", n, err)
	}
	rc, ok := s.OpenBlob(d)
	if !ok {
		t.Fatal("stored blob not found")
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("OpenBlob returned %q", got)
	}
}
