package testworld

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/rtbuild/rtbuild/images"
)

func TestParseDepends(t *testing.T) {
	out := `libstdc++6
  Depends: gcc-12-base
  Depends: libc6
libpython3.11-stdlib
  Depends: libpython3.11-minimal
 |Depends: media-types
  Depends: mime-support
  PreDepends: libc6
tzdata
 |Depends: debconf
  Depends: <debconf-2.0>
    cdebconf
    debconf
rake
  Depends: <ruby-interpreter:any>
    ruby3.1
<ruby-rexml>
`
	deps, err := parseDepends(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][][]depAlt{
		"libstdc++6": {{{name: "gcc-12-base"}}, {{name: "libc6"}}},
		"libpython3.11-stdlib": {
			{{name: "libpython3.11-minimal"}},
			{{name: "media-types"}, {name: "mime-support"}},
			{{name: "libc6"}},
		},
		"tzdata": {{{name: "debconf"}, {name: "debconf-2.0", virtual: true, providers: []string{"cdebconf", "debconf"}}}},
		"rake":   {{{name: "ruby-interpreter", virtual: true, providers: []string{"ruby3.1"}}}},
	}
	if !reflect.DeepEqual(deps, want) {
		t.Errorf("parseDepends:\n got %+v\nwant %+v", deps, want)
	}

	chosen := map[string]bool{"libc6": true}
	for _, c := range []struct {
		group []depAlt
		want  string
	}{
		{deps["libpython3.11-stdlib"][1], "media-types"},
		{deps["libpython3.11-stdlib"][2], ""}, // chosen already
		{deps["tzdata"][0], ""},               // debconf is excluded: satisfied
		{deps["rake"][0], "ruby3.1"},          // a virtual package's first provider
	} {
		if got := chooseAlternative(c.group, chosen); got != c.want {
			t.Errorf("chooseAlternative(%+v) = %q, want %q", c.group, got, c.want)
		}
	}
}

func TestParsePrintURIs(t *testing.T) {
	out := `'http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1.35.0-4%2bdeb12u1%2bb1_arm64.deb' busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb 822236 SHA256:732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5
'http://deb.debian.org/debian-security/pool/updates/main/t/tzdata/tzdata_2026f-0%2bdeb12u1_all.deb' tzdata_2026f-0+deb12u1_all.deb 307832 SHA256:3254eb870c8a949518214805aee5e4276af7699988ea8b9a3a583cd0f1eab31c
`
	pkgs, err := parsePrintURIs(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].Name != "busybox-static" || pkgs[0].Version != "1:1.35.0-4+deb12u1+b1" || pkgs[0].Arch != "arm64" ||
		pkgs[0].Size != 822236 || pkgs[1].Arch != "all" || !strings.HasPrefix(pkgs[1].URL, "http://deb.debian.org/debian-security/") {
		t.Errorf("parsePrintURIs: %+v", pkgs)
	}
	if got := debFileName(&pkgs[0]); got != "busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb" {
		t.Errorf("debFileName = %q", got)
	}
}

func TestNpmTarballName(t *testing.T) {
	for _, c := range []struct{ url, name, version string }{
		{"https://registry.npmjs.org/aws-sdk/-/aws-sdk-2.1001.0.tgz", "aws-sdk", "2.1001.0"},
		{"https://registry.npmjs.org/@aws-crypto/sha256-js/-/sha256-js-1.2.2.tgz", "@aws-crypto/sha256-js", "1.2.2"},
		{"https://registry.npmjs.org/uuid/-/uuid-3.3.2.tgz", "uuid", "3.3.2"},
		{"https://nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.xz", "", ""},
		{"https://registry.npmjs.org/uuid/-/other-3.3.2.tgz", "", ""},
	} {
		n, v, ok := npmTarballName(c.url)
		if n != c.name || v != c.version || ok != (c.name != "") {
			t.Errorf("npmTarballName(%s) = %q %q %v", c.url, n, v, ok)
		}
	}
}

// fakeDeb writes a .deb whose data.tar (compressed as comp: xz, zst, gz or
// "") holds entries.
func fakeDeb(t *testing.T, dir, name, comp string, entries []*tar.Header, bodies map[string]string) string {
	t.Helper()
	var data bytes.Buffer
	tw := tar.NewWriter(&data)
	for _, h := range entries {
		body := bodies[h.Name]
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if body != "" {
			tw.Write([]byte(body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var member bytes.Buffer
	switch comp {
	case "xz":
		w, err := xz.NewWriter(&member)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data.Bytes())
		w.Close()
	case "zst":
		w, err := zstd.NewWriter(&member)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data.Bytes())
		w.Close()
	case "":
		member = data
	default:
		raw, err := compress("tar.gz", data.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		member.Write(raw)
	}
	memberName := "data.tar"
	if comp != "" {
		memberName += "." + comp
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.xz", []byte("odd")}, {memberName, member.Bytes()}} {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.body))
		ar.Write(m.body)
		if len(m.body)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	p := filepath.Join(dir, name+".deb")
	if err := os.WriteFile(p, ar.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteRootfsLayer(t *testing.T) {
	dir := t.TempDir()
	d := func(n string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755} }
	f := func(n string, mode int64) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: mode} }
	libc := fakeDeb(t, dir, "libc6", "xz", []*tar.Header{
		d("./"), d("./lib/"), d("./lib/x86_64-linux-gnu/"),
		f("./lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0o755),
		f("./lib/x86_64-linux-gnu/libc.so.6", 0o755),
		d("./lib64/"),
		{Name: "./lib64/ld-linux-x86-64.so.2", Typeflag: tar.TypeSymlink, Linkname: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", Mode: 0o777},
		d("./usr/"), d("./usr/share/"), d("./usr/share/doc/"), d("./usr/share/doc/libc6/"),
		f("./usr/share/doc/libc6/copyright", 0o644),
		{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666},
	}, map[string]string{
		"./lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": "loader",
		"./lib/x86_64-linux-gnu/libc.so.6":            "libc",
		"./usr/share/doc/libc6/copyright":             "(c)",
	})
	bb := fakeDeb(t, dir, "busybox-static", "zst", []*tar.Header{
		d("./"), d("./bin/"), f("./bin/busybox", 0o755),
		{Name: "./bin/busybox-hardlink", Typeflag: tar.TypeLink, Linkname: "./bin/busybox"},
		d("./usr/"), d("./usr/bin/"), f("./usr/bin/cat", 0o755),
	}, map[string]string{"./bin/busybox": "busybox", "./usr/bin/cat": "a real cat"})
	plain := fakeDeb(t, dir, "plain", "", []*tar.Header{d("./etc/"), f("./etc/passwd", 0o644)}, map[string]string{"./etc/passwd": "from a package"})

	var buf bytes.Buffer
	files := []RootfsFile{{Path: "etc/passwd", Mode: 0o644, Body: "root:x:0:0::/root:/bin/sh\n"}, {Path: "tmp", Mode: 0o1777, Dir: true}}
	links := []RootfsFile{{Path: "usr/bin/sh", Link: "busybox"}, {Path: "usr/bin/cat", Link: "busybox"}}
	if err := WriteRootfsLayer(&buf, []string{libc, bb, plain}, files, links); err != nil {
		t.Fatal(err)
	}
	fs, err := readTarFS(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"lib64/ld-linux-x86-64.so.2":     "loader",
		"lib/x86_64-linux-gnu/libc.so.6": "libc",
		"bin/sh":                         "busybox",
		"usr/bin/busybox-hardlink":       "busybox",
		"usr/bin/cat":                    "a real cat", // the package's file wins over the applet link
		"etc/passwd":                     "root:x:0:0::/root:/bin/sh\n",
	} {
		_, e, err := fs.resolve(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		body := string(e.body)
		if e.hdr.Typeflag == tar.TypeLink {
			body = string(fs[e.hdr.Linkname].body)
		}
		if body != want {
			t.Errorf("%s holds %q, want %q", p, body, want)
		}
	}
	for _, p := range []string{"bin", "lib", "lib64", "sbin"} {
		if e := fs[p]; e == nil || e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "usr/"+p {
			t.Errorf("/%s is not a symlink to usr/%s: %+v", p, p, e)
		}
	}
	for _, p := range []string{"usr/share/doc/libc6/copyright", "usr/share/doc", "dev/null", "lib/x86_64-linux-gnu/libc.so.6"} {
		if fs[p] != nil && fs[p].hdr.Typeflag != tar.TypeDir {
			t.Errorf("%s is in the layer as itself (%c), want it left out or moved into usr/", p, fs[p].hdr.Typeflag)
		}
	}
	if fs["tmp"] == nil || fs["tmp"].hdr.Mode != 0o1777 {
		t.Errorf("tmp: %+v", fs["tmp"])
	}
	// Every entry once, every parent before its children.
	buf.Reset()
	if err := WriteRootfsLayer(&buf, []string{libc, bb, plain}, files, links); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		n := strings.TrimSuffix(h.Name, "/")
		if seen[n] {
			t.Errorf("%s written twice", n)
		}
		if parent := filepath.Dir(n); parent != "." && !seen[parent] {
			t.Errorf("%s comes before its directory %s", n, parent)
		}
		seen[n] = true
	}
}

func TestRealOverlayHelpers(t *testing.T) {
	got := realMergeMaps(
		map[string]any{"components": map[string]any{"a": map[string]any{"x": 1}}, "runtimes": []any{"r1"}},
		map[string]any{"components": map[string]any{"a": map[string]any{"y": 2}, "b": 3}, "runtimes": []any{"r2"}, "bases": nil},
	)
	want := map[string]any{"components": map[string]any{"a": map[string]any{"x": 1, "y": 2}, "b": 3}, "runtimes": []any{"r1", "r2"}, "bases": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeMaps = %v, want %v", got, want)
	}

	c := &images.Component{Sources: map[images.Arch][]*images.Source{images.AnyArch: {{URL: "https://example.com/a.tgz"}}}}
	srcs := componentSourcesFor(c, map[string]any{"sources": map[string][]map[string]string{
		"arm64": {{"url": "https://example.com/b-arm64.tgz"}},
		"any":   {{"url": "https://example.com/a.tgz"}, {"url": "https://example.com/c.tgz"}},
	}})
	if k, l := srcs.forArch(images.Arm64); k != "arm64" || !reflect.DeepEqual(l, []string{"https://example.com/b-arm64.tgz"}) {
		t.Errorf("arm64 sources: %s %v", k, l)
	}
	if k, l := srcs.forArch(images.X86_64); k != "any" || !reflect.DeepEqual(l, []string{"https://example.com/a.tgz", "https://example.com/c.tgz"}) {
		t.Errorf("x86_64 sources: %s %v", k, l)
	}

	node := &images.Component{Kind: images.KindArchive, Version: "14.21.3", Dest: "/var/lang"}
	if def, ok := defaultRealComponent("nodejs14", node); !ok || def.Fields["format"] != "tar.gz" || def.Fields["strip"] != 1 {
		t.Errorf("nodejs14 has no Node.js provider: %+v", def)
	}
	if _, ok := defaultRealComponent("boto3", &images.Component{Kind: images.KindArchive, Dest: "/var/runtime",
		Sources: map[images.Arch][]*images.Source{images.AnyArch: {{URL: "https://files.pythonhosted.org/x.whl"}}}}); ok {
		t.Errorf("boto3 (PyPI) has a built-in provider; PyPI is not reachable")
	}
}
