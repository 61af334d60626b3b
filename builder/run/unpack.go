package run

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sys/unix"
)

// Unpack writes img's file system, flattened with its whiteouts honoured
// (mutate.Extract), into dir, an existing directory. See ExtractTar for how
// entries are written.
func Unpack(ctx context.Context, img v1.Image, dir string) error {
	rc := mutate.Extract(img)
	defer rc.Close() // stops mutate.Extract's writer if we stop early
	if err := ExtractTar(ctx, rc, dir); err != nil {
		return fmt.Errorf("unpack the image: %w", err)
	}
	return nil
}

// ExtractTar writes the tar stream r into the existing directory root as a
// root file system. Entry names are relative to root (a leading "/" is
// ignored); a name that leaves root through ".." is refused. Symbolic links
// in the parents of an entry are followed as if root were "/" (like a
// container runtime applying a layer), so nothing is ever written outside
// root. Missing parent directories are created (0755). Modes (with setuid,
// setgid and sticky bits), symbolic links, hard links, FIFOs and modification
// times are kept; owners are kept when running as root; extended attributes
// (file capabilities, SELinux labels) are not restored. Device nodes are
// skipped (the container gets its /dev from runc) and so are leftover
// whiteout markers. Directory modes and times are applied at the end, so a
// read-only directory can still be filled.
//
// The stream may list upper layers first, as mutate.Extract does: an entry
// for a path that already holds a directory made for an earlier entry's
// parents is skipped unless it is a directory itself, except a symbolic link,
// which then replaces that directory and takes its content to where it
// points (the result a layer-by-layer application would give).
func ExtractTar(ctx context.Context, r io.Reader, root string) error {
	abs, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	x := &extractor{
		root:     abs,
		chown:    os.Geteuid() == 0,
		implicit: map[string]bool{},
		explicit: map[string]bool{},
		shadowed: map[string]bool{},
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the tar stream: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	for _, hdr := range x.links {
		if err := x.hardlink(hdr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.finish(d.path, d.hdr, false); err != nil {
			return fmt.Errorf("%s: %w", d.hdr.Name, err)
		}
	}
	return nil
}

type extractor struct {
	root  string
	chown bool
	// implicit holds directories (resolved, root-relative) created for the
	// parents of an entry before their own entry was seen; explicit those
	// whose entry was seen.
	implicit, explicit map[string]bool
	// shadowed holds resolved paths that an upper layer wrote through a
	// symbolic link that came later in the stream: lower entries for them
	// are skipped.
	shadowed map[string]bool
	links    []*tar.Header
	dirs     []dirEntry
}

type dirEntry struct {
	path string // host path
	hdr  *tar.Header
}

// cleanName returns the entry's name relative to the root ("" for the root
// itself), or an error when it leaves the root.
func cleanName(name string) (string, error) {
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("refusing a path outside the root file system")
	}
	if rel == "." {
		return "", nil
	}
	return rel, nil
}

func (x *extractor) host(rel string) string {
	return filepath.Join(x.root, filepath.FromSlash(rel))
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeXGlobalHeader:
		return nil
	}
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			x.dirs = append(x.dirs, dirEntry{x.root, hdr})
		}
		return nil
	}
	if strings.HasPrefix(path.Base(rel), ".wh.") {
		return nil // a whiteout marker mutate.Extract has already applied
	}
	if hdr.Typeflag == tar.TypeLink {
		x.links = append(x.links, hdr)
		return nil
	}
	parent, err := x.resolveDir(path.Dir(rel))
	if err != nil {
		return err
	}
	name := path.Join(parent, path.Base(rel))
	target := x.host(name)
	if x.shadowed[name] {
		return nil
	}
	fi, err := os.Lstat(target)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if exists && fi.IsDir() {
		switch {
		case hdr.Typeflag == tar.TypeDir:
		case hdr.Typeflag == tar.TypeSymlink && x.implicit[name] && !x.explicit[name]:
			// An upper layer put files under name, a lower one makes it a
			// link: move them to where the link points.
			return x.linkOverDir(name, hdr)
		default:
			return nil // hidden by an upper layer's content under it
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if exists && !fi.IsDir() {
			if err := os.Remove(target); err != nil {
				return err
			}
			exists = false
		}
		if !exists {
			if err := os.Mkdir(target, 0o755); err != nil {
				return err
			}
		}
		if !x.explicit[name] {
			x.explicit[name] = true
			x.dirs = append(x.dirs, dirEntry{target, hdr})
		}
		return nil
	case tar.TypeReg:
		if err := removeNonDir(target, exists); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := removeNonDir(target, exists); err != nil {
			return err
		}
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
	case tar.TypeFifo:
		if err := removeNonDir(target, exists); err != nil {
			return err
		}
		if err := unix.Mkfifo(target, 0o600); err != nil {
			return err
		}
	default:
		return nil // other types (GNU extensions, ...) have no place in an image
	}
	return x.finish(target, hdr, hdr.Typeflag == tar.TypeSymlink)
}

func removeNonDir(target string, exists bool) error {
	if !exists {
		return nil
	}
	return os.Remove(target)
}

// finish sets owner, mode and times. Owners are set first: chown clears the
// setuid and setgid bits.
func (x *extractor) finish(target string, hdr *tar.Header, symlink bool) error {
	if x.chown {
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if !symlink {
		if err := os.Chmod(target, tarMode(hdr)); err != nil {
			return err
		}
	}
	mtime := hdr.ModTime
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// tarMode is the permission part of the entry's mode, with setuid, setgid
// and sticky bits, as an fs.FileMode for os.Chmod.
func tarMode(hdr *tar.Header) fs.FileMode {
	m := fs.FileMode(hdr.Mode).Perm()
	if hdr.Mode&04000 != 0 {
		m |= fs.ModeSetuid
	}
	if hdr.Mode&02000 != 0 {
		m |= fs.ModeSetgid
	}
	if hdr.Mode&01000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// maxSymlinks bounds link resolution, as the kernel does (40).
const maxSymlinks = 40

// resolveDir resolves rel (root-relative, clean) to a root-relative directory
// path with no symbolic links in it, following links as if the root were
// "/" (".." and absolute targets never leave it), and creating missing
// directories.
func (x *extractor) resolveDir(rel string) (string, error) {
	parts := splitPath(rel)
	cur, links := "", 0
	for len(parts) > 0 {
		p := parts[0]
		parts = parts[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, p)
		hp := x.host(next)
		fi, err := os.Lstat(hp)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(hp, 0o755); err != nil {
				return "", err
			}
			x.implicit[next] = true
			cur = next
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			if links++; links > maxSymlinks {
				return "", fmt.Errorf("too many levels of symbolic links resolving %s", rel)
			}
			target, err := os.Readlink(hp)
			if err != nil {
				return "", err
			}
			if path.IsAbs(target) {
				cur = ""
			}
			parts = append(splitPath(target), parts...)
		case fi.IsDir():
			cur = next
		default:
			return "", fmt.Errorf("/%s is not a directory", next)
		}
	}
	return cur, nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// linkOverDir replaces the directory name, made for entries of an upper
// layer before the lower layer's symbolic link hdr was seen, by that link,
// and moves the directory's content to where the link points. What was
// moved shadows the lower layers' entries for the same paths.
func (x *extractor) linkOverDir(name string, hdr *tar.Header) error {
	dir := x.host(name)
	tmp := dir + ".rtbuild-moving"
	if err := os.Rename(dir, tmp); err != nil {
		return err
	}
	if err := os.Symlink(hdr.Linkname, dir); err != nil {
		return err
	}
	if err := x.finish(dir, hdr, true); err != nil {
		return err
	}
	dest, err := x.resolveDir(name)
	if err != nil {
		return err
	}
	if err := x.merge(tmp, dest); err != nil {
		return err
	}
	return os.RemoveAll(tmp)
}

// merge moves the content of the host directory from into the root-relative
// directory dest; what dest already holds wins.
func (x *extractor) merge(from, dest string) error {
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		src := filepath.Join(from, e.Name())
		rel := path.Join(dest, e.Name())
		dst := x.host(rel)
		fi, err := os.Lstat(dst)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Rename(src, dst); err != nil {
				return err
			}
			x.shadow(rel, e.IsDir())
		case err != nil:
			return err
		case fi.IsDir() && e.IsDir():
			if err := x.merge(src, rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// shadow marks rel, and everything under it when it is a directory, as
// written by an upper layer.
func (x *extractor) shadow(rel string, dir bool) {
	x.shadowed[rel] = true
	if !dir {
		return
	}
	_ = filepath.WalkDir(x.host(rel), func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			if r, err := filepath.Rel(x.root, p); err == nil {
				x.shadowed[filepath.ToSlash(r)] = true
			}
		}
		return nil
	})
}

// hardlink creates the hard link hdr once every other entry is written (a
// flattened stream may list the link before its target).
func (x *extractor) hardlink(hdr *tar.Header) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	trel, err := cleanName(hdr.Linkname)
	if err != nil || trel == "" {
		return fmt.Errorf("hard link to %q: refusing a target outside the root file system", hdr.Linkname)
	}
	tparent, err := x.resolveDir(path.Dir(trel))
	if err != nil {
		return err
	}
	target := x.host(path.Join(tparent, path.Base(trel)))
	tfi, err := os.Lstat(target)
	if err != nil {
		return fmt.Errorf("hard link to /%s: the target is not in the image: %w", trel, err)
	}
	if tfi.IsDir() {
		return fmt.Errorf("hard link to /%s: the target is a directory", trel)
	}
	parent, err := x.resolveDir(path.Dir(rel))
	if err != nil {
		return err
	}
	name := path.Join(parent, path.Base(rel))
	if x.shadowed[name] {
		return nil
	}
	link := x.host(name)
	fi, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case fi.IsDir():
		return nil // hidden by an upper layer's content under it
	default:
		if err := os.Remove(link); err != nil {
			return err
		}
	}
	return os.Link(target, link)
}
