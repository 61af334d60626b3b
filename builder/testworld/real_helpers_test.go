package testworld

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/rtbuild/rtbuild/images"
)

// memFS is a file system read from a tar stream (a layer, or an image
// flattened with mutate.Extract), for checks that follow symlinks the way
// the kernel and the dynamic loader would inside the image.
type memFS map[string]*memEntry

type memEntry struct {
	hdr  *tar.Header
	body []byte
}

func readTarFS(r io.Reader) (memFS, error) {
	fs := memFS{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fs, nil
		}
		if err != nil {
			return nil, err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		e := &memEntry{hdr: h}
		if h.Typeflag == tar.TypeReg {
			if e.body, err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		}
		fs[name] = e
		// npm tarballs have no directory entries: make the parents up.
		for d := path.Dir(name); d != "." && fs[d] == nil; d = path.Dir(d) {
			fs[d] = &memEntry{hdr: &tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}}
		}
	}
}

func layerFS(t *testing.T, gzPath string) memFS {
	t.Helper()
	f, err := os.Open(gzPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := readTarFS(zr)
	if err != nil {
		t.Fatalf("reading %s: %v", gzPath, err)
	}
	return fs
}

func imageFS(t *testing.T, img v1.Image) memFS {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	fs, err := readTarFS(rc)
	if err != nil {
		t.Fatalf("flattening the image: %v", err)
	}
	return fs
}

// resolve follows symlinks (absolute ones from the image's root) in every
// component of p and returns the final path and its entry.
func (fs memFS) resolve(p string) (string, *memEntry, error) {
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := ""
	for hops := 0; len(rest) > 0; {
		comp := rest[0]
		rest = rest[1:]
		if comp == "" || comp == "." {
			continue
		}
		next := path.Join(cur, comp)
		if comp == ".." {
			cur = path.Dir(cur)
			if cur == "." {
				cur = ""
			}
			continue
		}
		e := fs[next]
		if e == nil {
			return next, nil, fmt.Errorf("%s: %s does not exist", p, next)
		}
		if e.hdr.Typeflag == tar.TypeSymlink {
			if hops++; hops > 40 {
				return "", nil, fmt.Errorf("%s: too many levels of symlinks", p)
			}
			target := e.hdr.Linkname
			if strings.HasPrefix(target, "/") {
				cur = ""
			}
			rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
			continue
		}
		if e.hdr.Typeflag == tar.TypeLink {
			le := fs[path.Clean(strings.TrimPrefix(e.hdr.Linkname, "./"))]
			if le == nil {
				return "", nil, fmt.Errorf("%s: hard link to missing %s", p, e.hdr.Linkname)
			}
			e = le
		}
		if len(rest) > 0 && e.hdr.Typeflag != tar.TypeDir {
			return "", nil, fmt.Errorf("%s: %s is not a directory", p, next)
		}
		cur = next
		if len(rest) == 0 {
			return cur, e, nil
		}
	}
	return cur, fs[cur], nil
}

// elfOf resolves p and parses it as ELF.
func (fs memFS) elfOf(p string) (*elf.File, string, error) {
	real, e, err := fs.resolve(p)
	if err != nil {
		return nil, "", err
	}
	if e.hdr.Typeflag != tar.TypeReg {
		return nil, "", fmt.Errorf("%s (%s) is not a regular file", p, real)
	}
	f, err := elf.NewFile(bytes.NewReader(e.body))
	if err != nil {
		return nil, "", fmt.Errorf("%s (%s): %v", p, real, err)
	}
	return f, real, nil
}

var elfMachine = map[images.Arch]elf.Machine{images.X86_64: elf.EM_X86_64, images.Arm64: elf.EM_AARCH64}

// loaderPath is where each architecture's programs expect the dynamic loader.
var loaderPath = map[images.Arch]string{images.X86_64: "/lib64/ld-linux-x86-64.so.2", images.Arm64: "/lib/ld-linux-aarch64.so.1"}

// debTriplet is Debian's multiarch directory name.
var debTriplet = map[images.Arch]string{images.X86_64: "x86_64-linux-gnu", images.Arm64: "aarch64-linux-gnu"}

// elfInterp returns a program's PT_INTERP, "" for a static one.
func elfInterp(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return "", err
			}
			return strings.TrimRight(string(b), "\x00"), nil
		}
	}
	return "", nil
}

// checkELF checks that p in fs is an ELF program or library for arch; for a
// dynamic one, that its interpreter and every library it needs resolve in
// fs (in the library directories the loader searches without an
// ld.so.cache: Debian's multiarch directories, and those of the image
// contract's LD_LIBRARY_PATH).
func checkELF(t *testing.T, fs memFS, arch images.Arch, p string, wantStatic bool) {
	t.Helper()
	f, real, err := fs.elfOf(p)
	if err != nil {
		t.Errorf("%s: %v", arch, err)
		return
	}
	if f.Machine != elfMachine[arch] {
		t.Errorf("%s: %s (%s) is for %s, want %s", arch, p, real, f.Machine, elfMachine[arch])
	}
	interp, err := elfInterp(f)
	if err != nil {
		t.Errorf("%s: %s: %v", arch, p, err)
		return
	}
	if wantStatic {
		if interp != "" {
			t.Errorf("%s: %s is dynamic (interpreter %s), want static", arch, p, interp)
		}
		return
	}
	if interp != "" {
		if interp != loaderPath[arch] {
			t.Errorf("%s: %s asks for the loader %s, want %s", arch, p, interp, loaderPath[arch])
		}
		if lf, _, err := fs.elfOf(interp); err != nil {
			t.Errorf("%s: %s's loader: %v", arch, p, err)
		} else if lf.Machine != elfMachine[arch] {
			t.Errorf("%s: the loader %s is for %s", arch, interp, lf.Machine)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Errorf("%s: %s: %v", arch, p, err)
		return
	}
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		paths, _ := f.DynString(tag)
		for _, p := range paths {
			for _, d := range strings.Split(p, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", "/"+path.Dir(real))
				dirs = append(dirs, strings.TrimPrefix(path.Clean(d), "/"))
			}
		}
	}
	dirs = append(dirs, "lib/"+debTriplet[arch], "usr/lib/"+debTriplet[arch], "lib", "usr/lib", "lib64", "usr/lib64", "var/lang/lib")
	for _, lib := range libs {
		found := false
		for _, d := range dirs {
			if lf, _, err := fs.elfOf(path.Join(d, lib)); err == nil && lf.Machine == elfMachine[arch] {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: %s needs %s, which is in none of %v", arch, p, lib, dirs)
		}
	}
}

// extractFS writes fs below root (for running programs from it natively).
func realExtract(t *testing.T, fs memFS, root string) {
	t.Helper()
	names := realSortedKeys(fs)
	var hardlinks []string
	for _, n := range names {
		if fs[n].hdr.Typeflag == tar.TypeLink {
			hardlinks = append(hardlinks, n)
		}
	}
	names = append(names, hardlinks...) // hard links last, once their targets exist
	for i, n := range names {
		e := fs[n]
		if n == "." || e.hdr.Typeflag == tar.TypeLink && i < len(names)-len(hardlinks) {
			continue
		}
		dst := filepath.Join(root, filepath.FromSlash(n))
		parent := filepath.Dir(dst)
		if real, err := filepath.EvalSymlinks(parent); err == nil && !strings.HasPrefix(real+"/", root+"/") {
			t.Fatalf("extracting %s: its directory leaves the root (%s)", n, real)
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(e.hdr.Mode & 0o777)
		var err error
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			if e.hdr.Mode&0o1000 != 0 {
				mode |= os.ModeSticky
			}
			err = os.MkdirAll(dst, 0o755)
			if err == nil {
				err = os.Chmod(dst, mode)
			}
		case tar.TypeReg:
			err = os.WriteFile(dst, e.body, mode|0o200)
		case tar.TypeSymlink:
			err = os.Symlink(e.hdr.Linkname, dst)
		case tar.TypeLink:
			err = os.Link(filepath.Join(root, filepath.FromSlash(path.Clean(e.hdr.Linkname))), dst)
		}
		if err != nil {
			t.Fatalf("extracting %s: %v", n, err)
		}
	}
}

// runInRoot runs a program in root as a container runtime would (as root):
// chrooted, in mount, network and PID namespaces of its own (with loopback
// up, the machine's /dev and a /proc of the namespace), so that nothing it
// starts outlives it or sees the machine's network. Without unshare it is
// only chrooted. It returns the combined output and the error.
func runInRoot(t *testing.T, root string, env []string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	for _, d := range []string{"dev", "proc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cmd *exec.Cmd
	if unshare, mount, chroot := realLookPath("unshare"), realLookPath("mount"), realLookPath("chroot"); unshare != "" && mount != "" {
		script := `m=$1; shift; "$m" -t proc proc "$2/proc" && "$m" --rbind /dev "$2/dev" && exec "$@"`
		cmd = exec.CommandContext(ctx, unshare, append([]string{"--mount", "--net", "--pid", "--fork", "--kill-child",
			"/bin/sh", "-c", script, "sh", mount, chroot, root}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, chroot, append([]string{root}, args...)...)
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// qemuArch names each architecture as QEMU does.
var qemuArch = map[images.Arch]string{images.X86_64: "x86_64", images.Arm64: "aarch64"}

// qemuFor returns QEMU's user-mode emulator for a foreign arch, if installed.
func qemuFor(arch images.Arch) string {
	if arch == realHostArch() {
		return ""
	}
	return realLookPath("qemu-" + qemuArch[arch] + "-static")
}

// binfmtEnabled says whether the kernel runs arch's programs through
// QEMU by itself (a binfmt_misc handler, as Debian's qemu-user-static with
// binfmt-support registers it), with the fix-binary flag that lets it work
// in a chroot: then a foreign image's whole exec chain runs as on the host.
func binfmtEnabled(arch images.Arch) bool {
	if arch == realHostArch() {
		return false
	}
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/qemu-" + qemuArch[arch])
	if err != nil {
		return false
	}
	s := string(b)
	if !strings.HasPrefix(s, "enabled") {
		return false
	}
	for _, line := range strings.Split(s, "\n") {
		if flags, ok := strings.CutPrefix(line, "flags: "); ok {
			return strings.Contains(flags, "F")
		}
	}
	return false
}

// runQemu runs a program of root (an absolute path in it) for a foreign
// arch under QEMU user-mode emulation with root as the prefix for the
// loader, libraries and absolute paths (-L): no binfmt_misc needed, but
// programs the first one execs run natively (so this runs one program,
// not the entrypoint's chain).
func runQemu(root string, arch images.Arch, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemuFor(arch), append([]string{"-L", root, filepath.Join(root, args[0])}, args[1:]...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// runIn runs a command and returns its combined output, failing the test on error.
func realRun(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
