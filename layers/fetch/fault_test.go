package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/faultproxy"
)

// artifactServer serves n distinct artifacts at /a/<i>.
func artifactServer(t *testing.T, n int) (*server, map[string][]byte) {
	arts := map[string][]byte{}
	for i := 0; i < n; i++ {
		arts[fmt.Sprintf("/a/%d", i)] = []byte(strings.Repeat(fmt.Sprintf("artifact %d\n", i), 3000+i*100))
	}
	srv := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) bool {
		b, ok := arts[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return true
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
		return true
	})
	return srv, arts
}

// TestFaultDownloadsThroughRandomFaults downloads artifacts through a proxy
// faulting 30% of requests at random (every status, resets, truncated
// bodies, stalls within the body): each download completes with its digest
// or fails with an *UnreachableError, and the store holds only verified
// blobs and no temporary file.
func TestFaultDownloadsThroughRandomFaults(t *testing.T) {
	srv, arts := artifactServer(t, 24)
	pool := append(faultproxy.DefaultPool(),
		faultproxy.Fault{Kind: faultproxy.StallBody, Keep: 1000},
		faultproxy.Fault{Kind: faultproxy.Stall})
	p := faultproxy.Start(t, srv.URL, faultproxy.Options{Rate: 0.3, Seed: 42, Pool: pool})
	s := newStore(t, "", Options{})
	s.stall = 200 * time.Millisecond
	var ok, failed int
	for path, b := range arts {
		a, err := s.Fetch(context.Background(), p.URL+path, hexOf(b))
		if err != nil {
			var ue *UnreachableError
			if !errors.As(err, &ue) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: %v, want one-line *UnreachableError", path, err)
			}
			failed++
			continue
		}
		got, err := os.ReadFile(a.Path)
		if err != nil || hexOf(got) != hexOf(b) {
			t.Errorf("%s: stored content wrong (%v)", path, err)
		}
		ok++
	}
	t.Logf("%d downloaded, %d failed cleanly; faults: %v", ok, failed, p.Faults())
	if len(p.Events()) < 5 {
		t.Fatalf("only %d faults injected", len(p.Events()))
	}
	if ok < len(arts)*3/4 {
		t.Errorf("only %d of %d downloads survived a 30%% fault rate with %d retries", ok, len(arts), DefaultRetries)
	}
	tmps, _ := os.ReadDir(s.tmpDir())
	if len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	assertStoreVerified(t, s)
}

// TestFaultTruncatedNeverStored: an artifact whose every response is
// truncated (or stalls within the body) fails with one line after the
// retries, and nothing of it enters the store.
func TestFaultTruncatedNeverStored(t *testing.T) {
	for _, f := range []faultproxy.Fault{{Kind: faultproxy.Truncate}, {Kind: faultproxy.StallBody}, {Kind: faultproxy.Reset}, {Kind: faultproxy.Status, Code: 429, RetryAfter: time.Second}} {
		t.Run(f.String(), func(t *testing.T) {
			srv, arts := artifactServer(t, 1)
			p := faultproxy.Start(t, srv.URL, faultproxy.Options{Rules: []faultproxy.Rule{{Path: regexp.MustCompile(`^/a/`), Fault: f}}})
			s := newStore(t, "", Options{})
			s.stall = 200 * time.Millisecond
			s.maxWait = 50 * time.Millisecond // caps Retry-After too
			_, err := s.Fetch(context.Background(), p.URL+"/a/0", hexOf(arts["/a/0"]))
			var ue *UnreachableError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v, want *UnreachableError", err)
			}
			if n := len(p.Events()); n != 1+DefaultRetries {
				t.Errorf("%d attempts, want %d", n, 1+DefaultRetries)
			}
			assertClean(t, s)
		})
	}
}

// assertStoreVerified checks that every blob in the store has the digest it is named by.
func assertStoreVerified(t *testing.T, s *Store) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(s.dir, "sha256"))
	var bad []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.dir, "sha256", e.Name()))
		if err != nil || hexOf(b) != e.Name() {
			bad = append(bad, e.Name())
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("store blobs not matching their names: %v", bad)
	}
}

// TestFaultErrorsHideMirrorPassword: a mirror URL carrying a password is
// named in errors without it.
func TestFaultErrorsHideMirrorPassword(t *testing.T) {
	srv, arts := artifactServer(t, 1)
	for _, f := range []faultproxy.Fault{{Kind: faultproxy.Status, Code: 503}, {Kind: faultproxy.Truncate}, {Kind: faultproxy.Reset}} {
		p := faultproxy.Start(t, srv.URL, faultproxy.Options{Rules: []faultproxy.Rule{{Fault: f}}})
		s := newStore(t, "", Options{})
		u := strings.Replace(p.URL, "http://", "http://user:hunter2-secret@", 1) + "/a/0"
		_, err := s.Fetch(context.Background(), u, hexOf(arts["/a/0"]))
		if err == nil {
			t.Fatalf("%s: no error", f)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password: %v", f, err)
		}
		direct := strings.Replace(srv.URL, "http://", "http://user:hunter2-secret@", 1) + "/a/0"
		if _, err := s.Fetch(context.Background(), direct, otherHex); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: digest mismatch error shows the password: %v", f, err)
		}
	}
}
