package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/builder/testworld"
)

// TestAirGappedRoundTrip: fetch on a "connected" machine, export the cache,
// import it into an empty cache, and build --offline with nothing reachable
// (the world's artifact server and registry are stopped): the image
// digests equal those of the connected build.
func TestAirGappedRoundTrip(t *testing.T) {
	w := testworld.Start(t)
	runtimes := []string{"python3.9", "provided.al2"}
	connected := t.TempDir()

	r := mustCLI(t, t.TempDir(), nil, append(append([]string{"fetch"}, runtimes...), append([]string{"--cache-dir", connected}, w.Args()...)...)...)
	if n := strings.Count(r.stdout, "base "); n != 1 {
		t.Errorf("fetch saved %d bases, want 1 (al2):\n%s", n, r.stdout)
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "online.json")
	mustCLI(t, dir, nil, append(append([]string{"image"}, runtimes...), append([]string{"--cache-dir", connected, "--output", "oci:online/{runtime}", "--metadata-file", md}, w.Args()...)...)...)
	online := digestsOf(readMetadata(t, md))

	export := filepath.Join(t.TempDir(), "cache.tar")
	mustCLI(t, dir, nil, "cache", "export", export, "--cache-dir", connected)

	// The air-gapped machine: nothing upstream answers.
	w.Artifacts.Close()
	w.Registry.Stop()
	airgapped := t.TempDir()

	// Before the import, an offline build fails clearly and writes nothing.
	r = cli(t, dir, nil, append(append([]string{"image"}, runtimes...), append([]string{"--offline", "--cache-dir", airgapped, "--output", "oci:fail/{runtime}"}, w.Args()...)...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "offline") {
		t.Fatalf("offline build with an empty cache: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "fail")); err == nil {
		t.Error("a failed offline build left output behind")
	}

	mustCLI(t, dir, nil, "cache", "import", export, "--cache-dir", airgapped)
	md2 := filepath.Join(dir, "offline.json")
	mustCLI(t, dir, nil, append(append([]string{"image"}, runtimes...), append([]string{"--offline", "--cache-dir", airgapped, "--output", "oci:offline/{runtime}", "--metadata-file", md2}, w.Args()...)...)...)
	offline := digestsOf(readMetadata(t, md2))
	if online.String() != offline.String() {
		t.Fatalf("offline build differs from the connected one:\n%s\n---\n%s", online, offline)
	}

	// With the layer cache emptied, the offline build rebuilds every layer
	// from the imported downloads alone, still with the same digests.
	if err := os.RemoveAll(filepath.Join(airgapped, "layers")); err != nil {
		t.Fatal(err)
	}
	md3 := filepath.Join(dir, "rebuilt.json")
	mustCLI(t, dir, nil, append(append([]string{"image"}, runtimes...), append([]string{"--offline", "--cache-dir", airgapped, "--output", "oci:rebuilt/{runtime}", "--metadata-file", md3}, w.Args()...)...)...)
	if got := digestsOf(readMetadata(t, md3)); got.String() != online.String() {
		t.Fatalf("offline rebuild from downloads differs:\n%s\n---\n%s", online, got)
	}
}
