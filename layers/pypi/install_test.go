package pypi

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/unpack"
)

type tarFile struct {
	mode int64
	typ  byte
	data string
}

// installWheel installs a wheel built from members and reads the tar back.
func installWheel(t *testing.T, wheel []byte, url string, o InstallOptions) (map[string]tarFile, []string, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sha256-abc") // the store names files by digest
	if err := os.WriteFile(p, wheel, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := unpack.NewWriter(&buf, time.Unix(1600000000, 0))
	ierr := Install(w, p, url, o)
	if ierr == nil {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]tarFile{}
	var order []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = tarFile{mode: h.Mode, typ: h.Typeflag, data: string(b)}
		order = append(order, h.Name)
	}
	return files, order, ierr
}

func demoWheel(t *testing.T, badHash, omit string, extra ...member) []byte {
	members := append([]member{
		{name: "demo/__init__.py", data: "VERSION = '1.0'\n"},
		{name: "demo/cli.py", data: "def main():\n    return 0\n"},
		{name: "demo/tool.sh", data: "#!/bin/sh\necho tool\n", mode: 0o755},
		{name: "demo-1.0.data/scripts/demo-legacy", data: "#!python\nprint('hi')\n", mode: 0o644},
		{name: "demo-1.0.data/scripts/plain.sh", data: "#!/bin/sh\necho plain\n"},
		{name: "demo-1.0.data/purelib/demo_extra.py", data: "X = 1\n"},
		{name: "demo-1.0.data/platlib/demo_native.so", data: "\x7fELF\x02\x01\x01native"},
		{name: "demo-1.0.data/headers/demo.h", data: "int demo(void);\n"},
		{name: "demo-1.0.data/data/share/demo/readme.txt", data: "data file\n"},
		{name: "demo-1.0.dist-info/entry_points.txt", data: "[console_scripts]\ndemo = demo.cli:main\ndemo-sub = demo.cli:Main.run [extra]\n\n[gui_scripts]\ndemo-gui = demo.cli:main\n\n[demo.plugins]\nignored = demo.cli:main\n"},
		{name: "demo-1.0.dist-info/top_level.txt", data: "demo\n"},
	}, extra...)
	return buildWheel(t, "demo", "1.0", members, badHash, omit)
}

const demoURL = "https://files.pythonhosted.org/packages/ab/cd/ef/demo-1.0-py3-none-any.whl"

func TestInstallLikePipTarget(t *testing.T) {
	files, order, err := installWheel(t, demoWheel(t, "", ""), demoURL, InstallOptions{Target: "/var/runtime", Python: "3.9"})
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/var/lang/bin/python3.9\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom demo.cli import main\n" +
		"if __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit(main())\n"
	want := map[string]struct {
		mode int64
		data string
	}{
		"var/runtime/demo/__init__.py":                    {0o644, "VERSION = '1.0'\n"},
		"var/runtime/demo/cli.py":                         {0o644, "def main():\n    return 0\n"},
		"var/runtime/demo/tool.sh":                        {0o755, "#!/bin/sh\necho tool\n"},
		"var/runtime/bin/demo-legacy":                     {0o755, "#!/var/lang/bin/python3.9\nprint('hi')\n"},
		"var/runtime/bin/plain.sh":                        {0o755, "#!/bin/sh\necho plain\n"},
		"var/runtime/bin/demo":                            {0o755, script},
		"var/runtime/bin/demo-gui":                        {0o755, script},
		"var/runtime/demo_extra.py":                       {0o644, "X = 1\n"},
		"var/runtime/demo_native.so":                      {0o644, "\x7fELF\x02\x01\x01native"},
		"var/runtime/include/python/demo/demo.h":          {0o644, "int demo(void);\n"},
		"var/runtime/share/demo/readme.txt":               {0o644, "data file\n"},
		"var/runtime/demo-1.0.dist-info/INSTALLER":        {0o644, "rtbuild\n"},
		"var/runtime/demo-1.0.dist-info/top_level.txt":    {0o644, "demo\n"},
		"var/runtime/demo-1.0.dist-info/entry_points.txt": {0o644, ""},
	}
	for p, w := range want {
		f, ok := files[p]
		if !ok {
			t.Errorf("%s missing; have %v", p, order)
			continue
		}
		if f.typ != tar.TypeReg || f.mode != w.mode || (w.data != "" && f.data != w.data) {
			t.Errorf("%s: type %c mode %o %q, want file mode %o %q", p, f.typ, f.mode, f.data, w.mode, w.data)
		}
	}
	if f := files["var/runtime/bin/demo-sub"]; !strings.Contains(f.data, "from demo.cli import Main\n") || !strings.Contains(f.data, "sys.exit(Main.run())") {
		t.Errorf("demo-sub script: %q", f.data)
	}
	for p, f := range files {
		if strings.Contains(p, ".data/") || strings.Contains(p, "ignored") {
			t.Errorf("%s installed", p)
		}
		if f.typ == tar.TypeDir && f.mode != 0o755 {
			t.Errorf("dir %s mode %o", p, f.mode)
		}
	}
	// RECORD lists every installed file with its hash and size, relative to the target.
	rec, ok := files["var/runtime/demo-1.0.dist-info/RECORD"]
	if !ok {
		t.Fatal("no RECORD")
	}
	rows, err := csv.NewReader(strings.NewReader(rec.data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, r := range rows {
		listed[r[0]] = true
		f, ok := files["var/runtime/"+r[0]]
		if !ok {
			t.Errorf("RECORD lists %s, which is not installed", r[0])
			continue
		}
		if r[0] == "demo-1.0.dist-info/RECORD" {
			if r[1] != "" || r[2] != "" {
				t.Errorf("RECORD's own row: %v", r)
			}
			continue
		}
		sum := sha256.Sum256([]byte(f.data))
		if r[1] != "sha256="+base64.RawURLEncoding.EncodeToString(sum[:]) || r[2] != itoa(len(f.data)) {
			t.Errorf("RECORD row %v does not match the installed file (%d bytes)", r, len(f.data))
		}
	}
	for p, f := range files {
		if f.typ == tar.TypeReg && !listed[strings.TrimPrefix(p, "var/runtime/")] {
			t.Errorf("%s installed but not in RECORD", p)
		}
	}
	// Deterministic: the same wheel gives the same tar.
	files2, order2, err := installWheel(t, demoWheel(t, "", ""), demoURL, InstallOptions{Target: "/var/runtime", Python: "3.9"})
	if err != nil || strings.Join(order, ",") != strings.Join(order2, ",") || files2["var/runtime/demo-1.0.dist-info/RECORD"] != rec {
		t.Errorf("a second install differs: %v", err)
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

func TestInstallInterpreterOverride(t *testing.T) {
	files, _, err := installWheel(t, demoWheel(t, "", ""), demoURL, InstallOptions{Target: "/opt/python", Python: "3.9", Interpreter: "/usr/bin/python3"})
	if err != nil {
		t.Fatal(err)
	}
	if f := files["opt/python/bin/demo"]; !strings.HasPrefix(f.data, "#!/usr/bin/python3\n") {
		t.Errorf("shebang: %q", f.data)
	}
	if f := files["opt/python/bin/demo-legacy"]; f.data != "#!/usr/bin/python3\nprint('hi')\n" {
		t.Errorf("rewritten script: %q", f.data)
	}
}

func TestInstallRefusesBadWheels(t *testing.T) {
	opts := InstallOptions{Target: "/var/runtime", Python: "3.9"}
	for _, tc := range []struct {
		name  string
		wheel []byte
		want  []string
	}{
		{"hash mismatch", demoWheel(t, "demo/cli.py", ""),
			[]string{demoURL, `"demo/cli.py"`, "RECORD states sha256="}},
		{"not in RECORD", demoWheel(t, "", "demo/tool.sh"),
			[]string{demoURL, `"demo/tool.sh"`, "not listed with a hash in RECORD"}},
		{"escaping path", demoWheel(t, "", "", member{name: "../evil.py", data: "x"}),
			[]string{demoURL, `"../evil.py"`, "refused"}},
		{"escaping data path", demoWheel(t, "", "", member{name: "demo-1.0.data/purelib/../../../etc/passwd", data: "x"}),
			[]string{demoURL, "refused"}},
		{"absolute path", demoWheel(t, "", "", member{name: "/etc/passwd", data: "x"}),
			[]string{demoURL, `"/etc/passwd"`, "refused"}},
		{"unknown data dir", demoWheel(t, "", "", member{name: "demo-1.0.data/elsewhere/x", data: "x"}),
			[]string{"unknown wheel data directory"}},
		{"wheel version 2", demoWheel(t, "", "", member{name: "demo-1.0.dist-info/WHEEL", data: "Wheel-Version: 2.0\n"}),
			[]string{"Wheel-Version 2.0 is not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, _, err := installWheel(t, tc.wheel, demoURL, opts)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to name %s", err, w)
				}
			}
			if len(files) != 0 {
				t.Errorf("a refused wheel wrote %d entries", len(files))
			}
		})
	}
	if _, _, err := installWheel(t, demoWheel(t, "", ""), demoURL, InstallOptions{Target: "relative", Python: "3.9"}); err == nil {
		t.Error("a relative target was accepted")
	}
}
