package main

// End-to-end tests of --backend buildkit against a real buildkitd (BuildKit
// v0.34.2 built from testdata/buildkit-tools, runc worker, overlayfs
// snapshotter; testworld.StartBuildkitd) and the fixture world's real
// registry. They need root; locally they are skipped without it, in CI
// (CI=true) they fail.
//
// Time (2 CPUs): the first run on a machine builds buildkitd (about 4
// minutes, cached in $RTBUILD_TEST_CACHE, keyed by the tools module's
// go.sum); after that these tests take about 10 s together, each buildkitd
// starting in well under a second.

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// parityRuntimes are the runtimes of issue 6's parity test.
var parityRuntimes = []string{"provided.al2", "nodejs14.x", "python3.9"}

// fsEntry is one path of a flattened image file system.
type fsEntry struct {
	Type     byte
	Mode     int64 // permission, setuid, setgid and sticky bits
	Uid, Gid int
	Link     string
	SHA256   string // regular files
	MTime    int64
}

// flatten returns the file system an image's layers make (whiteouts
// applied), by path, as go-containerregistry's mutate.Extract gives it.
func flatten(t *testing.T, img v1.Image) map[string]fsEntry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]fsEntry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("flattening: %v", err)
		}
		p := path.Clean("/" + h.Name)
		e := fsEntry{Type: h.Typeflag, Mode: h.Mode & 0o7777, Uid: h.Uid, Gid: h.Gid, Link: h.Linkname, MTime: h.ModTime.Unix()}
		if e.Type == tar.TypeRegA {
			e.Type = tar.TypeReg
		}
		if e.Type == tar.TypeReg {
			s := sha256.New()
			if _, err := io.Copy(s, tr); err != nil {
				t.Fatal(err)
			}
			e.SHA256 = hex.EncodeToString(s.Sum(nil))
		}
		out[p] = e
	}
	return out
}

// buildkitArgs are the flags that send a build to bk.
func buildkitArgs(bk *testworld.Buildkitd) []string {
	return []string{"--backend", "buildkit", "--buildkit-addr", bk.Addr}
}

// TestBuildKitParity builds provided.al2, nodejs14.x and python3.9 from the
// fixture world natively and on buildkitd, and compares per platform the
// file systems (every path, type, mode, owner, link target, content hash
// and mtime) and the configs. It also checks the BuildKit build's outputs:
// the OCI layout, the docker archive, and the push (index at REF, each
// platform at REF-<arch>).
//
// Differences allowed, all BuildKit's own: the bytes of rtbuild's component
// layers (BuildKit writes each layer's tar from its snapshot, with its own
// header format and entry order, and compresses it with its own gzip), and
// so their digests and diffIDs, the configs' rootfs.diff_ids, and the
// manifest and index digests. Base layers are the same blobs.
func TestBuildKitParity(t *testing.T) {
	w := testworld.Start(t)
	bk := testworld.StartBuildkitd(t)
	for _, id := range parityRuntimes {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			work := t.TempDir()
			native, bkOut := filepath.Join(work, "native"), filepath.Join(work, "buildkit")
			tarPath, mdPath := filepath.Join(work, "image.tar"), filepath.Join(work, "metadata.json")
			repo := w.Registry.Host + "/bk/" + id

			mustCLI(t, work, nil, append([]string{"image", id, "--cache-dir", filepath.Join(work, "cache-native"),
				"--output", "oci:" + native}, w.Args()...)...)
			r := mustCLI(t, work, nil, append(append([]string{"image", id, "--progress", "plain",
				"--cache-dir", filepath.Join(work, "cache-bk"), "--output", "oci:" + bkOut, "--output", "docker:" + tarPath,
				"--push", repo + ":v1", "--metadata-file", mdPath}, buildkitArgs(bk)...), w.Args()...)...)

			md := readMetadata(t, mdPath)
			if md.Backend != "buildkit" || md.BuildKit == nil || len(md.Images) != 1 {
				t.Fatalf("metadata: backend %q, buildkit %+v, %d images", md.Backend, md.BuildKit, len(md.Images))
			}
			im := md.Images[0]
			if !strings.Contains(r.stdout, id+" "+im.Digest) {
				t.Errorf("stdout %q does not report %s %s", r.stdout, id, im.Digest)
			}
			rt, err := w.Catalog.Runtime(id)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range rt.Components {
				if !strings.Contains(r.stderr, " "+c+"@") {
					t.Errorf("progress names no component %s:\n%s", c, r.stderr)
				}
			}

			nimgs, bimgs := testworld.LayoutImages(t, native), testworld.LayoutImages(t, bkOut)
			for _, arch := range rt.Architectures {
				a := string(arch)
				ni, bi := nimgs[arch], bimgs[arch]
				if ni == nil || bi == nil {
					t.Fatalf("%s: native image %v, BuildKit image %v", a, ni != nil, bi != nil)
				}
				compareFS(t, a, flatten(t, ni), flatten(t, bi))
				compareConfig(t, a, ni, bi)
				compareLayers(t, a, ni, bi, len(rt.Components))
			}

			// The outputs of the BuildKit build: metadata, push, docker archive.
			checkBuildKitOutputs(t, w, rt, bkOut, tarPath, repo, md)
		})
	}
}

func compareFS(t *testing.T, arch string, native, bk map[string]fsEntry) {
	t.Helper()
	var paths []string
	for p := range native {
		paths = append(paths, p)
	}
	for p := range bk {
		if _, ok := native[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	diffs := 0
	for _, p := range paths {
		n, nok := native[p]
		b, bok := bk[p]
		switch {
		case !nok:
			t.Errorf("%s: %s only in the BuildKit image: %+v", arch, p, b)
		case !bok:
			t.Errorf("%s: %s only in the native image: %+v", arch, p, n)
		case n != b:
			t.Errorf("%s: %s differs: native %+v, BuildKit %+v", arch, p, n, b)
		default:
			continue
		}
		if diffs++; diffs > 20 {
			t.Fatalf("%s: more than 20 differences", arch)
		}
	}
	if len(native) < 10 {
		t.Errorf("%s: only %d paths in the native image", arch, len(native))
	}
}

func compareConfig(t *testing.T, arch string, ni, bi v1.Image) {
	t.Helper()
	nc, err := ni.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bi.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(nc.Config.Env, bc.Config.Env) || nc.Config.WorkingDir != bc.Config.WorkingDir ||
		!reflect.DeepEqual(nc.Config.Entrypoint, bc.Config.Entrypoint) || !reflect.DeepEqual(nc.Config.Labels, bc.Config.Labels) {
		t.Errorf("%s: config differs:\nnative   %+v\nBuildKit %+v", arch, nc.Config, bc.Config)
	}
	// Everything else too, but the diffIDs of rtbuild's layers (BuildKit's
	// own tar bytes).
	nc2, bc2 := nc.DeepCopy(), bc.DeepCopy()
	nc2.RootFS, bc2.RootFS = v1.RootFS{}, v1.RootFS{}
	if !reflect.DeepEqual(nc2, bc2) {
		t.Errorf("%s: configs differ beyond rootfs:\nnative   %+v\nBuildKit %+v", arch, nc2, bc2)
	}
}

// compareLayers checks that both images have the base's layers, the same
// blobs, then one layer per component.
func compareLayers(t *testing.T, arch string, ni, bi v1.Image, components int) {
	t.Helper()
	nm, err := ni.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	bm, err := bi.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(nm.Layers) != len(bm.Layers) {
		t.Fatalf("%s: native image has %d layers, BuildKit's %d", arch, len(nm.Layers), len(bm.Layers))
	}
	base := len(nm.Layers) - components
	for i := 0; i < base; i++ {
		if nm.Layers[i].Digest != bm.Layers[i].Digest {
			t.Errorf("%s: base layer %d: native %s, BuildKit %s", arch, i, nm.Layers[i].Digest, bm.Layers[i].Digest)
		}
	}
	if !reflect.DeepEqual(nm.Annotations, bm.Annotations) {
		t.Errorf("%s: manifest annotations differ:\nnative   %v\nBuildKit %v", arch, nm.Annotations, bm.Annotations)
	}
}

func checkBuildKitOutputs(t *testing.T, w *testworld.World, rt *images.Runtime, layoutDir, tarPath, repo string, md *metadataT) {
	t.Helper()
	im := md.Images[0]
	top, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	tim, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tim.Manifests) == 0 || tim.Manifests[0].Digest.String() != im.Digest {
		t.Errorf("layout's first entry is not the index %s: %+v", im.Digest, tim.Manifests)
	}
	if len(im.Platforms) != len(rt.Architectures) {
		t.Fatalf("metadata has %d platforms", len(im.Platforms))
	}
	for _, pm := range im.Platforms {
		if len(pm.Layers) == 0 || pm.BaseDigest == "" {
			t.Errorf("%s: metadata platform %+v", pm.Arch, pm)
		}
		comps := 0
		for _, l := range pm.Layers {
			if l.Component != "base" {
				comps++
				if l.Cache != "hit" && l.Cache != "miss" {
					t.Errorf("%s: layer %s cache %q", pm.Arch, l.Component, l.Cache)
				}
			}
		}
		if comps != len(rt.Components) {
			t.Errorf("%s: metadata attributes %d layers to components, want %d", pm.Arch, comps, len(rt.Components))
		}
		// The docker archive holds each platform as rtbuild/<runtime>:<arch>.
		tag, err := name.NewTag("rtbuild/" + rt.Identifier + ":" + pm.Arch)
		if err != nil {
			t.Fatal(err)
		}
		di, err := tarball.ImageFromPath(tarPath, &tag)
		if err != nil {
			t.Fatalf("docker archive: %v", err)
		}
		if d, err := di.ConfigName(); err != nil {
			t.Fatal(err)
		} else if li := testworld.LayoutImages(t, layoutDir)[images.Arch(pm.Arch)]; li != nil {
			if ld, _ := li.ConfigName(); ld != d {
				t.Errorf("%s: docker archive config %s, layout's %s", pm.Arch, d, ld)
			}
		}
		// The push: REF-<arch> is the platform's manifest.
		ref, err := name.ParseReference(repo+":v1-"+pm.Arch, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if desc.Digest.String() != pm.Digest || pm.Pushed != repo+":v1-"+pm.Arch+"@"+pm.Digest {
			t.Errorf("%s: tag %s is %s, metadata digest %s pushed %s", pm.Arch, ref, desc.Digest, pm.Digest, pm.Pushed)
		}
	}
	ref, err := name.ParseReference(repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != im.Digest || im.Pushed != repo+":v1@"+im.Digest {
		t.Errorf("index at %s is %s, metadata %s (pushed %s)", ref, desc.Digest, im.Digest, im.Pushed)
	}
}

// TestBuildKitCache: a second identical build reports every component
// vertex cached; a fresh buildkitd (empty state) with --cache-from the
// registry cache the first build wrote (--cache-to ...,mode=max) rebuilds
// nothing: every component vertex cached (counted from BuildKit's status
// stream, in the metadata file), no artifact fetched, the layers pulled from
// the cache repository, the same image.
func TestBuildKitCache(t *testing.T) {
	w := testworld.Start(t)
	bk := testworld.StartBuildkitd(t)
	work := t.TempDir()
	cache := w.Registry.Host + "/cache/rtbuild:{runtime}"
	build := func(bk *testworld.Buildkitd, n int, extra ...string) *metadataT {
		md := filepath.Join(work, fmt.Sprintf("metadata-%d.json", n))
		args := append([]string{"image", "python3.9", "--cache-dir", filepath.Join(work, "cache"),
			"--output", "oci:" + filepath.Join(work, fmt.Sprintf("out-%d", n)), "--metadata-file", md}, buildkitArgs(bk)...)
		args = append(append(args, extra...), w.Args()...)
		mustCLI(t, work, nil, args...)
		return readMetadata(t, md)
	}
	first := build(bk, 1, "--cache-to", "type=registry,ref="+cache+",mode=max")
	bkm := first.BuildKit
	// python3.9 has 7 components on 2 platforms; bootstrap and entrypoint
	// are the same content on both, one vertex each.
	if bkm.ComponentVertices != 12 || first.Cache.LayersBuilt == 0 {
		t.Errorf("first build: %+v, cache %+v", bkm, first.Cache)
	}

	second := build(bk, 2)
	if s := second.BuildKit; s.ComponentVertices != bkm.ComponentVertices || s.ComponentVerticesCached != s.ComponentVertices || second.Cache.LayersBuilt != 0 {
		t.Errorf("second build: %d of %d component vertices cached, %d built; want all cached", s.ComponentVerticesCached, s.ComponentVertices, second.Cache.LayersBuilt)
	}
	if second.Images[0].Digest != first.Images[0].Digest {
		t.Errorf("second build made %s, first %s", second.Images[0].Digest, first.Images[0].Digest)
	}

	// A fresh daemon: its state is gone with the old one.
	bk.Stop()
	if m := testworld.Mounts(bk.Root); len(m) != 0 {
		t.Errorf("mounts left under the stopped buildkitd's state: %v", m)
	}
	fresh := testworld.StartBuildkitd(t)
	requests := w.Artifacts.Requests()
	pulls := w.Registry.CountRequests("GET", "/v2/cache/rtbuild/blobs/")
	third := build(fresh, 3, "--cache-from", "type=registry,ref="+cache)
	if s := third.BuildKit; s.ComponentVertices != bkm.ComponentVertices || s.ComponentVerticesCached != s.ComponentVertices || third.Cache.LayersBuilt != 0 {
		t.Errorf("fresh daemon with --cache-from: %d of %d component vertices cached, %d built; want all cached", s.ComponentVerticesCached, s.ComponentVertices, third.Cache.LayersBuilt)
	}
	for _, pm := range third.Images[0].Platforms {
		for _, l := range pm.Layers {
			if l.Component != "base" && l.Cache != "hit" {
				t.Errorf("%s: layer of %s: cache %q, want hit", pm.Arch, l.Component, l.Cache)
			}
		}
	}
	if n := w.Artifacts.Requests() - requests; n != 0 {
		t.Errorf("%d artifacts fetched; want none (buildkitd: all from the registry cache; rtbuild: its layer cache)", n)
	}
	if p := third.BuildKit.Prepared; p.LayersBuilt != 0 {
		t.Errorf("rtbuild prepared %d layers again; its layer cache has them", p.LayersBuilt)
	}
	if n := w.Registry.CountRequests("GET", "/v2/cache/rtbuild/blobs/") - pulls; n == 0 {
		t.Errorf("no layer was pulled from the registry cache")
	} else {
		t.Logf("fresh daemon: %d component vertices cached, %d blobs pulled from the registry cache", third.BuildKit.ComponentVerticesCached, n)
	}
	if third.Images[0].Digest != first.Images[0].Digest {
		t.Errorf("the build from the imported cache made %s, the first %s", third.Images[0].Digest, first.Images[0].Digest)
	}
}

// TestBuildKitErrors: an unreachable buildkitd, a wrong TLS setup and a
// failing component each give one line and a non-zero exit; the right TLS
// setup works (a remote buildkitd over mutual TLS).
func TestBuildKitErrors(t *testing.T) {
	w := testworld.Start(t)
	bk := testworld.StartBuildkitd(t, testworld.WithTLS())
	tls := bk.TLS
	build := func(t *testing.T, extra ...string) cliResult {
		work := t.TempDir()
		args := append([]string{"image", "provided.al2", "--cache-dir", filepath.Join(work, "cache"),
			"--output", "oci:" + filepath.Join(work, "out")}, extra...)
		return cli(t, work, nil, append(args, w.Args()...)...)
	}
	expect := func(t *testing.T, r cliResult, code int, parts ...string) {
		t.Helper()
		line := oneLineError(t, r)
		t.Logf("exit %d: %s", r.code, line)
		if r.code != code {
			t.Errorf("exit %d, want %d: %s", r.code, code, line)
		}
		// Progress lines start with "#"; the error is the one other line.
		var other []string
		for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if !strings.HasPrefix(l, "#") {
				other = append(other, l)
			}
		}
		if len(other) != 1 {
			t.Errorf("want one error line, got %d:\n%s", len(other), r.stderr)
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				t.Errorf("error %q does not say %q", line, p)
			}
		}
		if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, ".go:") {
			t.Errorf("a stack in the output:\n%s", r.stderr)
		}
	}

	t.Run("failing component", func(t *testing.T) {
		// buildkitd fetches the emulator itself (a pinned file component):
		// the upstream now serves other bytes than the pinned ones. A world
		// of its own, and before any other build: buildkitd keys a pinned
		// download by its digest, so one it has fetched is never fetched again.
		w := testworld.Start(t)
		rie := w.Catalog.Components["rie"].Sources[images.X86_64][0].URL
		w.Artifacts.Override(rie, []byte("tampered\n"))
		work := t.TempDir()
		r := cli(t, work, nil, append([]string{"image", "provided.al2", "--backend", "buildkit", "--buildkit-addr", bk.Addr,
			"--arch", "x86_64", "--cache-dir", filepath.Join(work, "cache"), "--output", "oci:" + filepath.Join(work, "out")}, w.Args()...)...)
		expect(t, r, 3, "provided.al2 (x86_64): component rie: digest mismatch for ", "aws-lambda-rie: expected sha256:", ", got sha256:")
	})
	t.Run("unreachable", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "none.sock")
		r := build(t, "--backend", "buildkit", "--buildkit-addr", "unix://"+sock)
		expect(t, r, 4, "cannot reach buildkitd at unix://"+sock, "no such file or directory", "--buildkit-addr")
	})
	t.Run("unreachable from BUILDKIT_HOST", func(t *testing.T) {
		work := t.TempDir()
		r := cli(t, work, []string{"BUILDKIT_HOST=tcp://127.0.0.1:" + itoa(testworld.FreePort(t))},
			append([]string{"image", "provided.al2", "--backend", "buildkit", "--cache-dir", filepath.Join(work, "cache")}, w.Args()...)...)
		expect(t, r, 4, "cannot reach buildkitd at tcp://127.0.0.1:", "connection refused")
	})
	t.Run("TLS with the wrong CA", func(t *testing.T) {
		r := build(t, "--backend", "buildkit", "--buildkit-addr", tls.Addr, "--buildkit-tls-ca", tls.OtherCA,
			"--buildkit-tls-cert", tls.ClientCert, "--buildkit-tls-key", tls.ClientKey)
		expect(t, r, 1, "TLS connection to buildkitd at "+tls.Addr+" failed", "certificate signed by unknown authority", "--buildkit-tls-ca")
	})
	t.Run("TLS without a client certificate", func(t *testing.T) {
		r := build(t, "--backend", "buildkit", "--buildkit-addr", tls.Addr, "--buildkit-tls-ca", tls.CACert)
		expect(t, r, 1, "TLS connection to buildkitd at "+tls.Addr+" failed")
	})
	t.Run("TLS with a bogus CA file", func(t *testing.T) {
		bogus := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(bogus, []byte("not a certificate\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := build(t, "--backend", "buildkit", "--buildkit-addr", tls.Addr, "--buildkit-tls-ca", bogus,
			"--buildkit-tls-cert", tls.ClientCert, "--buildkit-tls-key", tls.ClientKey)
		expect(t, r, 1, "TLS connection to buildkitd at "+tls.Addr+" failed", "--buildkit-tls-ca "+bogus+" holds no PEM certificate")
	})
	t.Run("TLS without TLS flags", func(t *testing.T) {
		r := build(t, "--backend", "buildkit", "--buildkit-addr", tls.Addr)
		expect(t, r, 1, "TLS connection to buildkitd at "+tls.Addr+" failed", "seems to expect TLS")
	})
	t.Run("TLS works", func(t *testing.T) {
		r := build(t, "--backend", "buildkit", "--buildkit-addr", tls.Addr, "--buildkit-tls-ca", tls.CACert,
			"--buildkit-tls-cert", tls.ClientCert, "--buildkit-tls-key", tls.ClientKey, "--buildkit-tls-server-name", tls.ServerName)
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
	t.Run("flags need the buildkit backend", func(t *testing.T) {
		r := build(t, "--cache-to", "type=registry,ref=x/y:z")
		expect(t, r, 2, "need --backend buildkit")
	})
	t.Run("cache-to with several runtimes", func(t *testing.T) {
		work := t.TempDir()
		r := cli(t, work, nil, append([]string{"image", "provided.al2", "python3.9", "--backend", "buildkit", "--buildkit-addr", bk.Addr,
			"--cache-dir", filepath.Join(work, "cache"), "--cache-to", "type=registry,ref=" + w.Registry.Host + "/c:x"}, w.Args()...)...)
		expect(t, r, 2, "put {runtime} in it")
	})
}

// TestBuildKitSeveralRuntimes: several runtimes in one invocation are
// solved side by side, each pushed under its {runtime} name; with --push
// alone nothing comes back to the client but the manifests (the metadata
// is read from the registry).
func TestBuildKitSeveralRuntimes(t *testing.T) {
	w := testworld.Start(t)
	bk := testworld.StartBuildkitd(t)
	work := t.TempDir()
	mdPath := filepath.Join(work, "metadata.json")
	r := mustCLI(t, work, nil, append(append([]string{"image", "provided.al2", "python3.9", "--progress", "json",
		"--cache-dir", filepath.Join(work, "cache"), "--push", w.Registry.Host + "/multi/{runtime}:v1",
		"--metadata-file", mdPath}, buildkitArgs(bk)...), w.Args()...)...)
	md := readMetadata(t, mdPath)
	if len(md.Images) != 2 {
		t.Fatalf("metadata has %d images", len(md.Images))
	}
	for _, im := range md.Images {
		repo := w.Registry.Host + "/multi/" + im.Runtime
		if !strings.Contains(r.stdout, im.Runtime+" "+im.Digest) {
			t.Errorf("stdout %q does not report %s", r.stdout, im.Runtime)
		}
		if want := repo + ":v1@" + im.Digest; im.Pushed != want {
			t.Errorf("%s pushed %q, want %q", im.Runtime, im.Pushed, want)
		}
		for _, pm := range im.Platforms {
			ref, err := name.ParseReference(repo+":v1-"+pm.Arch, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Head(ref)
			if err != nil || desc.Digest.String() != pm.Digest || len(pm.Layers) < 4 {
				t.Errorf("%s: %v (%v), metadata %s with %d layers", ref, desc, err, pm.Digest, len(pm.Layers))
			}
		}
	}
	if !strings.Contains(r.stderr, `"status":"built"`) {
		t.Errorf("no JSON progress event for a built component:\n%s", r.stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(work, "cache")); len(ents) == 0 {
		t.Error("no rtbuild cache")
	} else {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".buildkit-oci-") {
				t.Errorf("left in the cache: %s", e.Name())
			}
		}
	}
}
