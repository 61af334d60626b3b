package testworld

// Local images for building Dockerfiles on a test buildkitd without the
// network: a Go builder made of Debian packages and this machine's Go
// toolchain, a minimal base for static binaries, and buildctl.

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/testtools"
)

// buildctlModule is buildctl's main package, pinned with buildkitd's in
// testdata/buildkit-tools.
const buildctlModule = "github.com/moby/buildkit/cmd/buildctl"

// BuildBuildctl returns the path of buildctl built from the version pinned
// in testdata/buildkit-tools (BuildKit v0.34.2), cached like BuildBuildkitd.
func BuildBuildctl(t testing.TB) string {
	t.Helper()
	tools := filepath.Join(filepath.Dir(ToolsDir(t)), "buildkit-tools")
	return testtools.BuildGoTool(t, testtools.GoTool{
		What: "buildctl", ModuleDir: tools, Pkg: buildctlModule,
		KeyFiles: []string{"go.mod", "go.sum"}, CacheDir: "buildkit", Name: "buildctl-" + runtime.GOOS + "-" + runtime.GOARCH,
	})
}

// GoBuilderPackages are the Debian packages of GoBuilderImage's root file
// system: busybox for /bin/sh (RUN) and the usual commands, and CA
// certificates for a module proxy over HTTPS. CGO is off, so no C compiler.
var GoBuilderPackages = []string{"busybox-static", "ca-certificates"}

// goLayerVersion is part of the Go toolchain layer's cache key: bump it when
// writeGoToolchain changes what the layer holds.
const goLayerVersion = "1"

// GoToolchainLayer returns this machine's Go toolchain (runtime.GOROOT()) as
// a gzip tar layer at /usr/local/go: VERSION, go.env, LICENSE, bin,
// pkg/tool/<GOOS>_<GOARCH>, pkg/include and the standard library's sources
// (src without cmd, tests and testdata), owned by root. The layer is cached
// in CacheDir/go-toolchain, keyed by the toolchain's version and location,
// so it is written once per machine and toolchain.
func GoToolchainLayer(t testing.TB) string {
	t.Helper()
	root := runtime.GOROOT()
	if root == "" || !testtools.FileExists(filepath.Join(root, "bin", "go")) {
		testtools.Unavailable(t, "this machine's Go toolchain (GOROOT %q) is needed for the Go builder image", root)
	}
	version, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatalf("Go toolchain layer: %v", err)
	}
	goBin, err := os.Stat(filepath.Join(root, "bin", "go"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "go toolchain layer %s\n%s\n%s/%s\n%q\n%d %d\n", goLayerVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH,
		root, goBin.Size(), goBin.ModTime().UnixNano())
	h.Write(version)
	dir := filepath.Join(CacheDir(t), "go-toolchain")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%s-%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	out := filepath.Join(dir, name+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".tar.gz")
	start := time.Now()
	built := buildCachedLayer(t, out, filepath.Join(dir, ".lock"), func(zw io.Writer) error {
		if err := writeGoToolchain(zw, root); err != nil {
			return fmt.Errorf("Go toolchain layer from %s: %w", root, err)
		}
		return nil
	})
	if !built {
		return out
	}
	// Layers of other toolchains are stale.
	if old, err := filepath.Glob(filepath.Join(dir, "go*.tar.gz")); err == nil {
		for _, p := range old {
			if p != out {
				os.Remove(p)
			}
		}
	}
	t.Logf("Go toolchain layer (%s) written in %s", strings.TrimSpace(strings.SplitN(string(version), "\n", 2)[0]), time.Since(start).Round(time.Millisecond))
	return out
}

// writeGoToolchain writes the toolchain under root as a tar at usr/local/go,
// in a deterministic order (filepath.WalkDir's), with root as owner and
// rootfsEpoch as mtime.
func writeGoToolchain(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	dirHeader := func(name string) *tar.Header {
		return &tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: rootfsEpoch}
	}
	for _, d := range []string{"usr", "usr/local", "usr/local/go"} {
		if err := tw.WriteHeader(dirHeader(d)); err != nil {
			return err
		}
	}
	tool := path.Join("pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
	include := func(rel string, d fs.DirEntry) (keep, descend bool) {
		switch {
		case rel == "VERSION" || rel == "go.env" || rel == "LICENSE":
			return true, false
		case rel == "bin" || strings.HasPrefix(rel, "bin/"):
			return true, true
		case rel == "pkg" || rel == "pkg/tool":
			return true, true
		case rel == tool || strings.HasPrefix(rel, tool+"/"):
			return true, true
		case rel == "pkg/include" || strings.HasPrefix(rel, "pkg/include/"):
			return true, true
		case rel == "src/cmd":
			return false, false
		case rel == "src" || strings.HasPrefix(rel, "src/"):
			if d.IsDir() && d.Name() == "testdata" || !d.IsDir() && strings.HasSuffix(d.Name(), "_test.go") {
				return false, false
			}
			return true, true
		}
		return false, false
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		keep, descend := include(rel, d)
		if !keep {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := "usr/local/go/" + rel
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := tw.WriteHeader(dirHeader(name)); err != nil {
				return err
			}
			if !descend {
				return filepath.SkipDir
			}
			return nil
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, ModTime: rootfsEpoch})
		case info.Mode().IsRegular():
			mode := int64(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: info.Size(), ModTime: rootfsEpoch}); err != nil {
				return err
			}
			if _, err := io.Copy(tw, f); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	})
}

// HostArch is this machine's architecture as rtbuild names it.
func HostArch(t testing.TB) images.Arch {
	t.Helper()
	a, err := images.ParseArch(runtime.GOARCH)
	if err != nil {
		t.Skipf("no images for this machine's architecture: %v", err)
	}
	return a
}

// GoBuilderImage returns a Go builder image for this machine's architecture,
// a local stand-in for the golang images: a Debian root file system of
// GoBuilderPackages (RealRootfsFor) and GoToolchainLayer, with
// PATH=/go/bin:/usr/local/go/bin:..., GOPATH=/go and /go as working
// directory. It runs `go build` for CGO_ENABLED=0 builds.
func GoBuilderImage(t testing.TB) v1.Image {
	t.Helper()
	arch := HostArch(t)
	rf := RealRootfsFor(t, arch, GoBuilderPackages...)
	rootfs, err := tarball.LayerFromFile(rf.Layer, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatalf("Go builder image: %v", err)
	}
	toolchain, err := tarball.LayerFromFile(GoToolchainLayer(t), tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatalf("Go builder image: %v", err)
	}
	img, err := imageOf(arch, []v1.Layer{rootfs, toolchain}, v1.Config{
		Env: []string{
			"PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"GOPATH=/go", "GOTOOLCHAIN=local",
		},
		WorkingDir: "/go",
		Cmd:        []string{"/bin/sh"},
	})
	if err != nil {
		t.Fatalf("Go builder image: %v", err)
	}
	return img
}

// StaticUID is the non-root user of StaticBaseImage (as in the distroless
// :nonroot images).
const StaticUID = 65532

// StaticBaseImage returns a minimal base for static binaries for this
// machine's architecture, a local stand-in for distroless static :nonroot:
// one layer with /etc/passwd and /etc/group (root, nonroot 65532, nobody),
// /etc/nsswitch.conf, the CA bundle of Debian's ca-certificates at
// /etc/ssl/certs/ca-certificates.crt, /home/nonroot and /tmp; user 65532,
// PATH and SSL_CERT_FILE set.
func StaticBaseImage(t testing.TB) v1.Image {
	t.Helper()
	arch := HostArch(t)
	var bundle string
	for _, p := range DebianPackages(t, arch.OCI(), "ca-certificates") {
		if p.Name == "ca-certificates" {
			b, err := caBundle(p.File)
			if err != nil {
				t.Fatalf("static base image: CA bundle from %s: %v", p.File, err)
			}
			bundle = b
		}
	}
	if bundle == "" {
		t.Fatalf("static base image: ca-certificates was not downloaded")
	}
	uid := StaticUID
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		mode int64
		body string
		dir  bool
		uid  int
	}{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, body: "root:x:0:0:root:/root:/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
			fmt.Sprintf("nonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid)},
		{name: "etc/group", mode: 0o644, body: fmt.Sprintf("root:x:0:\nnobody:x:65534:\nnonroot:x:%d:\n", uid)},
		{name: "etc/nsswitch.conf", mode: 0o644, body: "passwd: files\ngroup: files\nhosts: files dns\n"},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: bundle},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, dir: true, uid: uid},
		{name: "root", mode: 0o700, dir: true},
		{name: "tmp", mode: 0o1777, dir: true},
	} {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: rootfsEpoch, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if e.dir {
			h.Name, h.Typeflag, h.Size = e.name+"/", tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return nopCloser(raw), nil }, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageOf(arch, []v1.Layer{layer}, v1.Config{
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
		User:       fmt.Sprint(uid),
		WorkingDir: "/home/nonroot",
	})
	if err != nil {
		t.Fatalf("static base image: %v", err)
	}
	return img
}

// imageOf is a single-platform Docker v2 schema 2 image of layers for arch
// with config c.
func imageOf(arch images.Arch, layers []v1.Layer, c v1.Config) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	p := ociPlatform(arch)
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: rootfsEpoch}
	cf.Config = c
	return mutate.ConfigFile(img, cf)
}
