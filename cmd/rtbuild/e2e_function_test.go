package main

import (
	"archive/tar"
	"archive/zip"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// fnFile is one file of a test function tree or zip.
type fnFile struct {
	mode fs.FileMode
	body string // for a symlink: its target
}

func fnTree(t *testing.T, files map[string]fnFile) string {
	t.Helper()
	dir := t.TempDir()
	for rel, f := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if f.mode&fs.ModeSymlink != 0 {
			if err := os.Symlink(f.body, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fnZip(t *testing.T, names []string, files map[string]fnFile) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "package.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate}
		h.SetMode(files[n].mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[n].body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// fnEntry is one path of a flattened image.
type fnEntry struct {
	mode int64
	typ  byte
	body string
	link string
}

// layoutImage reads the image named ref from the OCI layout dir.
func fnLayoutImage(t *testing.T, dir, ref string) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Annotations[ocispec.AnnotationRefName] == ref {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no %s in the layout %s", ref, dir)
	return nil
}

// flatten returns the image's file system (layers applied in order, as a
// container runtime would), for the paths under the given prefixes.
func fnFlatten(t *testing.T, img v1.Image, prefixes ...string) map[string]fnEntry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]fnEntry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		keep := false
		for _, p := range prefixes {
			keep = keep || name == p || strings.HasPrefix(name, p+"/")
		}
		if !keep {
			continue
		}
		b, _ := io.ReadAll(tr)
		out[name] = fnEntry{mode: h.Mode & 0o7777, typ: h.Typeflag, body: string(b), link: h.Linkname}
	}
}

// TestFunctionImages builds function images in the fixture world: from a
// directory with an ignore file and two layers, from a .zip, refusals of
// unsafe .zip entries, and --base.
func TestFunctionImages(t *testing.T) {
	w := testworld.Start(t)
	cacheDir := t.TempDir()
	base := func(extra ...string) []string {
		return append(append([]string{"function", "--cache-dir", cacheDir, "--progress", "plain"}, extra...), w.Args()...)
	}

	src := fnTree(t, map[string]fnFile{
		"app.js":                 {0o600, "exports.handler = async () => 'hi'"},
		"lib/util.js":            {0o640, "module.exports = 1"},
		"bin/tool":               {0o700, "#!/bin/sh"},
		"README.md":              {0o644, "docs"},
		"test/app.test.js":       {0o644, "test"},
		"node_modules/x/a.js":    {0o644, "dev dependency"},
		"node_modules/keep/k.js": {0o644, "kept by !"},
		"logs/debug.log":         {0o644, "log"},
		"lib/deep/trace.log":     {0o644, "log"},
		".dockerignore":          {0o644, "# dev files\n*.md\ntest\n**/*.log\nnode_modules\n!node_modules/keep\n"},
	})
	layer1 := fnZip(t, []string{"nodejs/node_modules/greet/index.js", "shared.txt", "bin/one"}, map[string]fnFile{
		"nodejs/node_modules/greet/index.js": {0o644, "module.exports = 'v1'"},
		"shared.txt":                         {0o600, "from layer 1"},
		"bin/one":                            {0o755, "#!/bin/sh"},
	})
	layer2 := fnTree(t, map[string]fnFile{
		"shared.txt":                         {0o644, "from layer 2"},
		"nodejs/node_modules/greet/index.js": {0o644, "module.exports = 'v2'"},
	})

	t.Run("src", func(t *testing.T) {
		work := t.TempDir()
		out := filepath.Join(work, "layout")
		r := mustCLI(t, work, nil, base("--runtime", "nodejs14.x", "--arch", "x86_64", "--handler", "app.handler",
			"--src", src, "--layer", layer1, "--layer", layer2, "--env", "STAGE=prod", "--env", "TZ=UTC",
			"--output", "oci:"+out, "--metadata-file", filepath.Join(work, "md.json"))...)
		if !strings.HasPrefix(r.stdout, "x86_64 sha256:") {
			t.Errorf("stdout %q", r.stdout)
		}
		img := fnLayoutImage(t, out, "function-x86_64")
		fsys := fnFlatten(t, img, "var/task", "opt")
		for _, gone := range []string{"var/task/README.md", "var/task/test/app.test.js", "var/task/node_modules/x/a.js",
			"var/task/logs/debug.log", "var/task/lib/deep/trace.log", "var/task/.dockerignore"} {
			if _, ok := fsys[gone]; ok {
				t.Errorf("%s is in the image; the ignore file excludes it", gone)
			}
		}
		for p, mode := range map[string]int64{
			"var/task":                        0o755,
			"var/task/app.js":                 0o604,
			"var/task/lib/util.js":            0o644,
			"var/task/bin/tool":               0o705,
			"var/task/node_modules/keep/k.js": 0o644,
			"opt/bin/one":                     0o755,
			"opt/shared.txt":                  0o644,
		} {
			e, ok := fsys[p]
			if !ok {
				t.Errorf("%s missing from the image", p)
			} else if e.mode != mode {
				t.Errorf("%s mode %o, want %o", p, e.mode, mode)
			}
		}
		if got := fsys["opt/shared.txt"].body; got != "from layer 2" {
			t.Errorf("/opt/shared.txt = %q: the later layer must override", got)
		}
		if got := fsys["opt/nodejs/node_modules/greet/index.js"].body; got != "module.exports = 'v2'" {
			t.Errorf("greet = %q: the later layer must override", got)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cf.Config.Cmd, []string{"app.handler"}) || !slices.Equal(cf.Config.Entrypoint, []string{"/lambda-entrypoint.sh"}) {
			t.Errorf("Cmd %q Entrypoint %q", cf.Config.Cmd, cf.Config.Entrypoint)
		}
		env := cf.Config.Env
		// Docker ENV semantics: TZ replaced in place, STAGE appended, the rest the runtime's.
		wantEnv := append([]string{}, contractEnv...)
		wantEnv[1] = "TZ=UTC"
		if len(env) < len(wantEnv)+1 || !slices.Equal(env[:len(wantEnv)], wantEnv) || env[len(env)-1] != "STAGE=prod" {
			t.Errorf("env %q", env)
		}
		if !slices.Contains(env, "AWS_EXECUTION_ENV=AWS_Lambda_nodejs14.x") || cf.Config.WorkingDir != "/var/task" {
			t.Errorf("the runtime's env or WorkingDir lost: %q %q", env, cf.Config.WorkingDir)
		}
		if m, err := img.Manifest(); err != nil || m.Annotations[ocispec.AnnotationBaseImageName] != "rtbuild:nodejs14.x" || m.Annotations[ocispec.AnnotationBaseImageDigest] == "" {
			t.Errorf("manifest annotations do not name the runtime image: %v", m.Annotations)
		}
		ls, _ := img.Layers()
		md := readMetadata(t, filepath.Join(work, "md.json"))
		pl := md.Images[0].Platforms[0].Layers
		if len(pl) != len(ls) || pl[len(pl)-3].Component != "function-code" || pl[len(pl)-1].Component != "function-layer-2" {
			t.Errorf("metadata layers %+v for %d image layers", pl, len(ls))
		}

		// --base: the runtime image built by `rtbuild image`, then the same code.
		rt := filepath.Join(work, "runtime")
		mustCLI(t, work, nil, append([]string{"image", "nodejs14.x", "--arch", "x86_64", "--cache-dir", cacheDir, "--output", "oci:" + rt}, w.Args()...)...)
		out2 := filepath.Join(work, "layout2")
		mustCLI(t, work, nil, base("--base", "oci:"+rt+":nodejs14.x", "--handler", "app.handler",
			"--src", src, "--layer", layer1, "--layer", layer2, "--env", "STAGE=prod", "--env", "TZ=UTC", "--output", "oci:"+out2)...)
		ls2, _ := fnLayoutImage(t, out2, "function-x86_64").Layers()
		if len(ls2) != len(ls) {
			t.Fatalf("--base image has %d layers, --runtime %d", len(ls2), len(ls))
		}
		for i := range ls {
			d1, _ := ls[i].Digest()
			d2, _ := ls2[i].Digest()
			if d1 != d2 {
				t.Errorf("layer %d: %s with --runtime, %s with --base", i, d1, d2)
			}
		}
	})

	t.Run("zip", func(t *testing.T) {
		work := t.TempDir()
		out := filepath.Join(work, "layout")
		files := map[string]fnFile{
			"index.py":         {0o644, "def handler(e, c): return e"},
			"bootstrap":        {0o755, "#!/bin/sh"},
			"conf/secret.json": {0o640, "{}"},
			"lib/libx.so":      {fs.ModeSymlink | 0o777, "libx.so.1"},
			"lib/libx.so.1":    {0o644, "elf"},
		}
		z := fnZip(t, []string{"index.py", "bootstrap", "conf/secret.json", "lib/libx.so.1", "lib/libx.so"}, files)
		mustCLI(t, work, nil, base("--runtime", "python3.9", "--arch", "arm64", "--handler", "index.handler", "--zip", z, "--output", "oci:"+out)...)
		img := fnLayoutImage(t, out, "function-arm64")
		fsys := fnFlatten(t, img, "var/task")
		for p, mode := range map[string]int64{"var/task/index.py": 0o644, "var/task/bootstrap": 0o755, "var/task/conf/secret.json": 0o644} {
			if fsys[p].mode != mode {
				t.Errorf("%s mode %o, want %o (the zip's, plus o+r)", p, fsys[p].mode, mode)
			}
		}
		if e := fsys["var/task/lib/libx.so"]; e.typ != tar.TypeSymlink || e.link != "libx.so.1" {
			t.Errorf("lib/libx.so = %+v", e)
		}
		cf, _ := img.ConfigFile()
		if !slices.Equal(cf.Config.Cmd, []string{"index.handler"}) || cf.Architecture != "arm64" {
			t.Errorf("Cmd %q arch %s", cf.Config.Cmd, cf.Architecture)
		}
	})

	t.Run("unsafe-zip", func(t *testing.T) {
		for _, c := range []struct{ name, entry, link string }{
			{"dotdot", "../x", ""},
			{"absolute", "/abs", ""},
			{"symlink", "evil", "../../etc/passwd"},
			{"abs-symlink", "evil", "/etc/passwd"},
		} {
			t.Run(c.name, func(t *testing.T) {
				work := t.TempDir()
				f := fnFile{0o644, "x"}
				if c.link != "" {
					f = fnFile{fs.ModeSymlink | 0o777, c.link}
				}
				z := fnZip(t, []string{"ok.py", c.entry}, map[string]fnFile{"ok.py": {0o644, "ok"}, c.entry: f})
				out := filepath.Join(work, "layout")
				r := cli(t, work, nil, base("--runtime", "python3.9", "--arch", "x86_64", "--handler", "ok.handler", "--zip", z,
					"--output", "oci:"+out, "--metadata-file", filepath.Join(work, "md.json"))...)
				if r.code == 0 {
					t.Fatalf("a zip with %q was accepted", c.entry)
				}
				line := oneLineError(t, r)
				if !strings.Contains(line, `"`+c.entry+`"`) {
					t.Errorf("the error does not name the entry %q: %s", c.entry, line)
				}
				for _, p := range []string{out, filepath.Join(work, "md.json")} {
					if _, err := os.Stat(p); err == nil {
						t.Errorf("%s was written", p)
					}
				}
			})
		}
	})

	t.Run("usage", func(t *testing.T) {
		r := cli(t, "", nil, base("--runtime", "nodejs14.x", "--src", src)...)
		if r.code != 2 || !strings.Contains(oneLineError(t, r), "--handler") {
			t.Errorf("no --handler: exit %d %s", r.code, r.stderr)
		}
		r = cli(t, "", nil, base("--runtime", "go1.x", "--arch", "arm64", "--handler", "h", "--src", src)...)
		if r.code != 2 || !strings.Contains(oneLineError(t, r), "provided.al2") {
			t.Errorf("go1.x on arm64: exit %d %s", r.code, r.stderr)
		}
	})
}

// TestFunctionPush pushes function images to the real registry: one arch is
// a single manifest at REF, several are REF-<arch> without an index unless
// --index, and a code-only change uploads one new layer blob.
func TestFunctionPush(t *testing.T) {
	w := testworld.Start(t)
	cacheDir := t.TempDir()
	src := fnTree(t, map[string]fnFile{"app.js": {0o644, "exports.handler = async () => 1"}})
	layer := fnTree(t, map[string]fnFile{"nodejs/node_modules/dep/index.js": {0o644, "module.exports = 1"}})
	push := func(ref string, src string, extra ...string) *metadataT {
		t.Helper()
		work := t.TempDir()
		md := filepath.Join(work, "md.json")
		args := append([]string{"function", "--runtime", "nodejs14.x", "--handler", "app.handler", "--src", src, "--layer", layer,
			"--cache-dir", cacheDir, "--push", ref, "--metadata-file", md}, extra...)
		r := mustCLI(t, work, nil, append(args, w.Args()...)...)
		if len(extra) > 0 && extra[len(extra)-1] != "x86_64" && !strings.Contains(r.stderr, "Lambda rejects an image index") {
			t.Errorf("no warning about indexes:\n%s", r.stderr)
		}
		return readMetadata(t, md)
	}
	get := func(ref string) (*remote.Descriptor, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return remote.Get(r)
	}
	repo := w.Registry.Host + "/fn/node"

	t.Run("one-arch", func(t *testing.T) {
		md := push(repo+":one", src, "--arch", "x86_64")
		d, err := get(repo + ":one")
		if err != nil {
			t.Fatal(err)
		}
		if d.MediaType != types.OCIManifestSchema1 || d.Digest.String() != md.Images[0].Platforms[0].Digest {
			t.Errorf("REF is %s %s, want the single-arch manifest %s", d.MediaType, d.Digest, md.Images[0].Platforms[0].Digest)
		}
		if _, err := get(repo + ":one-x86_64"); err == nil {
			t.Errorf("one-x86_64 exists: one arch is pushed at REF only")
		}
	})
	t.Run("two-arches", func(t *testing.T) {
		md := push(repo+":two", src, "--arch", "x86_64,arm64")
		if _, err := get(repo + ":two"); err == nil {
			t.Errorf("an index was pushed at REF without --index")
		}
		for _, pm := range md.Images[0].Platforms {
			d, err := get(repo + ":two-" + pm.Arch)
			if err != nil {
				t.Fatal(err)
			}
			if d.MediaType != types.OCIManifestSchema1 || d.Digest.String() != pm.Digest {
				t.Errorf("two-%s is %s %s, want %s", pm.Arch, d.MediaType, d.Digest, pm.Digest)
			}
		}
	})
	t.Run("index", func(t *testing.T) {
		md := push(repo+":idx", src, "--arch", "x86_64,arm64", "--index")
		d, err := get(repo + ":idx")
		if err != nil {
			t.Fatal(err)
		}
		if !d.MediaType.IsIndex() {
			t.Errorf("REF is %s, want an index with --index", d.MediaType)
		}
		for _, pm := range md.Images[0].Platforms {
			if d, err := get(repo + ":idx-" + pm.Arch); err != nil || d.Digest.String() != pm.Digest {
				t.Errorf("idx-%s: %v", pm.Arch, err)
			}
		}
	})
	t.Run("code-only-change", func(t *testing.T) {
		push(repo+":v1", src, "--arch", "x86_64")
		before := w.Registry.CountRequests("PUT", "/v2/fn/node/blobs/uploads/")
		src2 := fnTree(t, map[string]fnFile{"app.js": {0o644, "exports.handler = async () => 2"}})
		md := push(repo+":v2", src2, "--arch", "x86_64")
		after := w.Registry.CountRequests("PUT", "/v2/fn/node/blobs/uploads/")
		var uploads []string
		for _, line := range strings.Split(w.Registry.Log(), "\n") {
			if strings.Contains(line, `"PUT `) && strings.Contains(line, "/v2/fn/node/blobs/uploads/") {
				uploads = append(uploads, line)
			}
		}
		if len(uploads) != after {
			t.Fatalf("the log has %d uploads, CountRequests %d", len(uploads), after)
		}
		uploads = uploads[before:]
		pm := md.Images[0].Platforms[0]
		var code string
		layers := 0
		for _, l := range pm.Layers {
			if l.Component == "function-code" {
				code = l.Digest.Hex
				if l.Cache != "miss" {
					t.Errorf("the changed code layer was a cache %s", l.Cache)
				}
			} else if l.Cache == "miss" {
				t.Errorf("layer %s was rebuilt", l.Component)
			}
		}
		var kinds []string
		for _, u := range uploads {
			if strings.Contains(u, code) {
				layers++
				kinds = append(kinds, "code")
				continue
			}
			// Which other blob is it? Read it back from the registry.
			_, d, _ := strings.Cut(u, "digest=sha256%3A")
			d, _, _ = strings.Cut(d, " ")
			resp, err := http.Get("http://" + w.Registry.Host + "/v2/fn/node/blobs/sha256:" + d)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case strings.Contains(string(body), `"rootfs"`):
				kinds = append(kinds, "config")
			case strings.Contains(string(body), `"spdxVersion"`):
				kinds = append(kinds, "sbom")
			default:
				kinds = append(kinds, "other "+d)
			}
		}
		sort.Strings(kinds)
		// Three blobs are new: the code layer, the image config and the SBOM
		// (which lists the code layer's digest); nothing of the runtime.
		if got := strings.Join(kinds, " "); got != "code config sbom" || layers != 1 {
			t.Errorf("a code-only change uploaded %q (want the code layer %s, the config and the SBOM):\n%s", got, code, strings.Join(uploads, "\n"))
		}
	})
}

// TestRunFunctionNode builds a function image on the real nodejs14.x from
// testdata/functions/node with a layer whose library a handler imports, and
// runs it with `rtbuild run` (runc and the real emulator) on x86_64.
func TestRunFunctionNode(t *testing.T) {
	requireRunc(t)
	w := testworld.StartReal(t, testworld.RealOptions{})
	work := t.TempDir()
	layer := fnTree(t, map[string]fnFile{"nodejs/node_modules/greet/index.js": {0o644, "module.exports = (n) => 'hello ' + n;"}})
	src := fnTree(t, map[string]fnFile{})
	fnCopyTree(t, testworld.FunctionDir("node"), src)
	if err := os.WriteFile(filepath.Join(src, "uselayer.js"), []byte("const greet = require('greet');\nexports.handler = async (e) => ({ greeting: greet(e.name) });\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "layout")
	mustCLI(t, work, nil, append([]string{"function", "--runtime", "nodejs14.x", "--arch", string(images.X86_64), "--src", src,
		"--handler", "app.handler", "--layer", layer, "--output", "oci:" + out,
		"--cache-dir", filepath.Join(testworld.CacheDir(t), "rtbuild-e2e-cache")}, w.Args()...)...)
	run := func(handler, event string) map[string]any {
		t.Helper()
		ev := filepath.Join(work, "event.json")
		os.WriteFile(ev, []byte(event), 0o644)
		args := []string{"run", "oci:" + out + ":function-x86_64", "--arch", "x86_64", "--event", ev, "--timeout", "60s", "--tmp-dir", work}
		if handler != "" {
			args = append(args, "--handler", handler)
		}
		r := cli(t, work, nil, args...)
		if r.code != 0 {
			t.Fatalf("rtbuild run: exit %d\nstdout: %s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil {
			t.Fatalf("response is not a JSON object: %v\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
		}
		return resp
	}
	if resp := run("", `{"name":"fn"}`); resp["hello"] != "fn" || resp["runtime"] != "nodejs" {
		t.Errorf("the image's CMD app.handler answered %v", resp)
	}
	if resp := run("uselayer.handler", `{"name":"layer"}`); resp["greeting"] != "hello layer" {
		t.Errorf("the handler importing the layer's library answered %v", resp)
	}
}

// copyTree copies the regular files of src into dst.
func fnCopyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
