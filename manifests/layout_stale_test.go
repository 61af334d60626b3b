package manifests

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// TestWriteOCILayoutRemovesStaleWrites: a write killed before its rename
// leaves .NAME.new-* behind; the next write removes it once it is old, and
// leaves a recent one (a write in progress) alone.
func TestWriteOCILayoutRemovesStaleWrites(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	stale := filepath.Join(parent, ".out.new-123")
	recent := filepath.Join(parent, ".out.new-456")
	for _, d := range []string{stale, recent} {
		if err := os.MkdirAll(filepath.Join(d, "blobs"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleWriteAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img,
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	if err := WriteOCILayout(out, idx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale write %s still there (%v)", stale, err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent write was removed: %v", err)
	}
}
