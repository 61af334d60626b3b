package function

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

// LayerFormatVersion is part of every function layer's cache key; bump it
// when the bytes a layer is made of change for the same input.
const LayerFormatVersion = "rtbuild-function-layer/1"

// Input is the content of one function layer: a directory or a .zip.
type Input struct {
	// Path is a directory or a .zip file.
	Path string
	// Dest is the absolute directory it is placed under (/var/task, /opt).
	Dest string
	// IgnoreFile, for a directory, is a .dockerignore-style file of
	// patterns of paths (relative to Path) left out; "" for none.
	IgnoreFile string
	// Confine refuses symbolic links that resolve outside Dest.
	Confine bool
	// Exclude are paths (files or directories) inside a directory Path
	// that are left out: rtbuild's own outputs when they are written there.
	Exclude []string
}

// FixMode is the mode a file of a function image gets so that Lambda's
// unprivileged user can read it: o+r on everything, o+x on directories
// and on files the owner may execute. Other bits are kept.
func FixMode(typ byte, mode int64) int64 {
	switch typ {
	case tar.TypeDir:
		return mode | 0o005
	case tar.TypeReg, tar.TypeLink:
		mode |= 0o004
		if mode&0o100 != 0 {
			mode |= 0o001
		}
		return mode
	}
	return mode
}

// BuildLayer writes in's deterministic tar to a temporary file, hashes it,
// and returns the cached layer whose key is that hash (so the same content
// gives the same layer, and a hit uploads nothing new). hit says whether
// the layer was in the cache already.
func BuildLayer(c *cache.Cache, in Input, epoch time.Time) (e *cache.Entry, hit bool, err error) {
	tmp, err := os.CreateTemp("", "rtbuild-function-layer-*.tar")
	if err != nil {
		return nil, false, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	h := sha256.New()
	if err := WriteLayer(io.MultiWriter(tmp, h), in, epoch); err != nil {
		return nil, false, err
	}
	key := cacheKey(hex.EncodeToString(h.Sum(nil)))
	if e, ok, err := c.Get(key); err != nil {
		return nil, false, err
	} else if ok {
		return e, true, nil
	}
	e, err = c.Put(key, func(w io.Writer) error {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := io.Copy(w, tmp)
		return err
	})
	return e, false, err
}

func cacheKey(tarSHA string) string {
	s := sha256.Sum256([]byte(LayerFormatVersion + "\n" + tarSHA))
	return "fn-" + hex.EncodeToString(s[:])
}

// WriteLayer writes in as a deterministic tar to w: a directory (minus
// ignored paths) or a .zip (its modes kept) is unpacked under in.Dest by
// unpack.Writer, which refuses absolute paths, ".." and special files; then
// every mode is fixed with FixMode and, with in.Confine, symbolic links
// leaving in.Dest are refused.
func WriteLayer(w io.Writer, in Input, epoch time.Time) error {
	fi, err := os.Stat(in.Path)
	if err != nil {
		return err
	}
	archive, format := in.Path, unpack.FormatZip
	if fi.IsDir() {
		tmp, err := os.CreateTemp("", "rtbuild-function-src-*.tar")
		if err != nil {
			return err
		}
		defer func() {
			tmp.Close()
			os.Remove(tmp.Name())
		}()
		if err := tarDir(tmp, in.Path, in.IgnoreFile, in.Exclude); err != nil {
			return err
		}
		archive, format = tmp.Name(), unpack.FormatTar
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is neither a directory nor a .zip file", in.Path)
	}

	pr, pw := io.Pipe()
	unpacked := make(chan error, 1)
	go func() {
		uw := unpack.NewWriter(pw, epoch)
		err := uw.AddArchive(archive, unpack.Options{Format: format, Dest: in.Dest, Name: in.Path})
		if err == nil {
			err = uw.Close()
		}
		pw.CloseWithError(err)
		unpacked <- err
	}()
	err = normalise(w, pr, in)
	pr.CloseWithError(errAbandoned) // unblocks the writer on an early return
	if uerr := <-unpacked; uerr != nil && !errors.Is(uerr, errAbandoned) {
		return uerr // the refused entry, rather than what reading its stream said
	}
	return err
}

var errAbandoned = errors.New("layer abandoned")

// normalise copies the tar stream r to w with fixed modes and checks links.
func normalise(w io.Writer, r io.Reader, in Input) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	dest := strings.Trim(path.Clean(in.Dest), "/")
	links := map[string]string{} // layer path -> target
	var order []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		out := &tar.Header{
			Typeflag: hdr.Typeflag, Name: hdr.Name, Linkname: hdr.Linkname,
			Mode: FixMode(hdr.Typeflag, hdr.Mode), ModTime: hdr.ModTime, Size: hdr.Size,
		}
		if hdr.Typeflag == tar.TypeSymlink {
			p := strings.TrimSuffix(hdr.Name, "/")
			links[p] = hdr.Linkname
			order = append(order, p)
		}
		if err := tw.WriteHeader(out); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
		}
	}
	if in.Confine {
		for _, p := range order {
			if !confined(p, links, dest) {
				entry := strings.TrimPrefix(strings.TrimPrefix(p, dest), "/")
				return &unpack.EntryError{Artifact: in.Path, Entry: entry,
					Err: fmt.Errorf("symbolic link to %q leaves /%s", links[p], dest)}
			}
		}
	}
	return tw.Close()
}

// confined reports whether the symbolic link at layer path p resolves,
// following the layer's other links, without ever leaving dest (paths
// outside dest belong to the image, which the function may not reach
// through its own files). Links that loop are not confined.
func confined(p string, links map[string]string, dest string) bool {
	inside := func(stack []string) bool {
		return strings.HasPrefix(strings.Join(stack, "/")+"/", dest+"/")
	}
	budget := 255
	var walk func(dir []string, target string) ([]string, bool)
	walk = func(dir []string, target string) ([]string, bool) {
		cur := append([]string{}, dir...)
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		for _, c := range strings.Split(target, "/") {
			switch c {
			case "", ".":
				continue
			case "..":
				if len(cur) > 0 {
					cur = cur[:len(cur)-1]
				}
			default:
				cur = append(cur, c)
				if t, ok := links[strings.Join(cur, "/")]; ok {
					if budget--; budget < 0 {
						return nil, false
					}
					var ok bool
					if cur, ok = walk(cur[:len(cur)-1], t); !ok {
						return nil, false
					}
				}
			}
			// An absolute target may pass through / on its way in; a
			// relative one must never step out.
			if !inside(cur) && !(strings.HasPrefix(target, "/") && isPrefix(cur, dest)) {
				return nil, false
			}
		}
		if !inside(cur) {
			return nil, false
		}
		return cur, true
	}
	_, ok := walk(strings.Split(path.Dir(p), "/"), links[p])
	return ok
}

// isPrefix reports whether stack is dest or one of its parents.
func isPrefix(stack []string, dest string) bool {
	s := strings.Join(stack, "/")
	return s == "" || strings.HasPrefix(dest+"/", s+"/")
}

// tarDir writes dir's tree as a plain tar (relative names, the files' own
// modes) to w in lexical order, leaving out what the ignore file excludes
// (and the ignore file itself when it is inside dir) and the exclude paths.
func tarDir(w io.Writer, dir, ignoreFile string, exclude []string) error {
	pm, err := loadIgnore(ignoreFile)
	if err != nil {
		return err
	}
	skip := map[string]bool{}
	for _, e := range exclude {
		if abs, err := filepath.Abs(e); err == nil {
			skip[abs] = true
		}
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	selfIgnore := ""
	if ignoreFile != "" {
		if rel, err := filepath.Rel(dir, ignoreFile); err == nil && !strings.HasPrefix(rel, "..") {
			selfIgnore = filepath.ToSlash(rel)
		}
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if skip[filepath.Join(absDir, rel)] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel = filepath.ToSlash(rel)
		if rel == selfIgnore {
			return nil
		}
		if pm != nil {
			excluded, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return fmt.Errorf("ignore file %s: %w", ignoreFile, err)
			}
			if excluded {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil // a directory is still walked: a "!" pattern may take back what is below it
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, Mode: int64(fi.Mode().Perm()), ModTime: time.Unix(0, 0)}
		switch {
		case fi.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
		case fi.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		default:
			return &unpack.EntryError{Artifact: dir, Entry: rel, Err: fmt.Errorf("unsupported file type %v", fi.Mode().Type())}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, hdr.Size)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w (did it change while being read?)", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// loadIgnore reads a .dockerignore-style file with Docker's own parser and
// matcher (github.com/moby/patternmatcher): comments (#), "*", "?", "**",
// character classes and "!" exceptions, the last matching pattern winning.
func loadIgnore(file string) (*patternmatcher.PatternMatcher, error) {
	if file == "" {
		return nil, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading ignore file %s: %w", file, err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("ignore file %s: %w", file, err)
	}
	return pm, nil
}
