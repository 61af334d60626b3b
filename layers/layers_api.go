package layers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/layers/fetch"
	"github.com/rtbuild/rtbuild/layers/pypi"
	"github.com/rtbuild/rtbuild/layers/rpm"
	"github.com/rtbuild/rtbuild/layers/rubygems"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

// FormatVersion is mixed into every cache key; bump it when layer bytes change.
const FormatVersion = "1"

// Installer formats: artifacts installed the way their package manager
// would, rather than unpacked as archives.
const (
	FormatWheel      = "wheel"       // a Python wheel, installed as pip install --target Dest (layers/pypi)
	FormatGemInstall = "gem-install" // a RubyGems .gem, installed into the GEM_HOME Dest (layers/rubygems)
	FormatRPM        = "rpm"         // an RPM's payload, at its paths (under Dest when not /) (layers/rpm)
)

// Recipe kinds (the catalog's component kinds, images.KindArchive and images.KindFile).
const (
	KindArchive = "archive"
	KindFile    = "file"
)

// Recipe is everything one layer is made from.
type Recipe struct {
	Component, Version, Kind string

	// Archive: see unpack.Options.
	Format string
	Strip  int
	Dest   string

	// File: absolute path in the image, mode (0: 0644), and the content
	// (nil when it comes from the one input).
	Path    string
	Mode    os.FileMode
	Content []byte

	// Inputs are the downloaded artifacts, in order (archive: all, unpacked
	// in order into the one layer; file: at most one).
	Inputs []*fetch.Artifact
	// InputDests, when set, holds per input a destination overriding Dest
	// ("" keeps Dest): where an npm package sits in its tree.
	InputDests []string

	// Subdir: archive, see unpack.Options.
	Subdir string

	// Interpreter is the shebang interpreter of the scripts a wheel
	// installs ("/usr/bin/env python3"); format wheel only.
	Interpreter string

	// Epoch is SOURCE_DATE_EPOCH: mtimes are clamped to it.
	Epoch time.Time
}

// keyRecipe is the canonical form hashed into a cache key. Its JSON field
// order is fixed by the struct; renaming a field changes every key, so
// don't (bump FormatVersion instead when layer bytes change).
type keyRecipe struct {
	FormatVersion string     `json:"formatVersion"`
	Component     string     `json:"component"`
	Version       string     `json:"version"`
	Kind          string     `json:"kind"`
	Format        string     `json:"format"`
	Strip         int        `json:"strip"`
	Subdir        string     `json:"subdir"`
	Dest          string     `json:"dest"`
	Path          string     `json:"path"`
	Mode          uint32     `json:"mode"`
	Epoch         int64      `json:"epoch"`
	Inputs        []keyInput `json:"inputs"`
	Content       string     `json:"content"` // sha256 hex of Content; "" when nil
	Interpreter   string     `json:"interpreter,omitempty"`
}

type keyInput struct {
	SHA256 string `json:"sha256"`
	Name   string `json:"name"`           // the URL's basename (a raw artifact's file name)
	Dest   string `json:"dest,omitempty"` // the input's own destination, if any
}

// Key returns the layer's cache key: the hex sha256 of the canonical JSON
// of the recipe (FormatVersion, component, version, kind, the layout
// fields, the epoch), each input's digest and URL basename in order, and
// the sha256 of Content. The builder reports it to explain a rebuild.
func (r Recipe) Key() string {
	k := keyRecipe{
		FormatVersion: FormatVersion,
		Component:     r.Component,
		Version:       r.Version,
		Kind:          r.Kind,
		Format:        r.Format,
		Strip:         r.Strip,
		Subdir:        r.Subdir,
		Dest:          r.Dest,
		Path:          r.Path,
		Mode:          uint32(r.Mode),
		Epoch:         epochSeconds(r.Epoch),
		Interpreter:   r.Interpreter,
		Inputs:        []keyInput{},
	}
	for i, in := range r.Inputs {
		if in == nil {
			k.Inputs = append(k.Inputs, keyInput{})
			continue
		}
		k.Inputs = append(k.Inputs, keyInput{SHA256: in.SHA256, Name: urlBase(in.URL), Dest: r.inputDest(i)})
	}
	if r.Content != nil {
		sum := sha256.Sum256(r.Content)
		k.Content = hex.EncodeToString(sum[:])
	}
	b, err := json.Marshal(k)
	if err != nil {
		panic(err) // strings and numbers only: cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// epochSeconds is the epoch as unpack uses it: whole seconds, none before 1970.
func epochSeconds(t time.Time) int64 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return t.Unix()
}

func urlBase(s string) string {
	p := s
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		p = u.Path
	}
	return path.Base(p)
}

// Build returns the cached layer for r, building it on a miss: the inputs
// are unpacked (archive) or the file written (file) into a deterministic
// tar that the cache compresses and stores under r.Key(). hit says whether
// the layer came from the cache.
func Build(ctx context.Context, c *cache.Cache, r Recipe) (e *cache.Entry, hit bool, err error) {
	if err := r.check(); err != nil {
		return nil, false, err
	}
	key := r.Key()
	if e, ok, err := c.Get(key); err != nil {
		return nil, false, err
	} else if ok {
		return e, true, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	e, err = c.Put(key, func(w io.Writer) error {
		tw := unpack.NewWriter(&ctxWriter{ctx: ctx, w: w}, r.Epoch)
		if err := r.write(ctx, tw); err != nil {
			return err
		}
		return tw.Close()
	})
	if err != nil {
		return nil, false, fmt.Errorf("component %s: %w", r.Component, err)
	}
	return e, false, nil
}

// inputDest is input i's own destination, "" when it has none.
func (r Recipe) inputDest(i int) string {
	if i < len(r.InputDests) {
		return r.InputDests[i]
	}
	return ""
}

// WriteTar writes r's layer as an uncompressed tar to w, without the cache
// (for tools and tests that need a component's files).
func WriteTar(ctx context.Context, w io.Writer, r Recipe) error {
	if err := r.check(); err != nil {
		return err
	}
	tw := unpack.NewWriter(w, r.Epoch)
	if err := r.write(ctx, tw); err != nil {
		return err
	}
	return tw.Close()
}

// check refuses recipes that cannot make a layer.
func (r Recipe) check() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("component %s: %s", r.Component, fmt.Sprintf(format, args...))
	}
	for i, in := range r.Inputs {
		if in == nil || in.Path == "" {
			return fail("input %d has no downloaded file", i)
		}
	}
	switch r.Kind {
	case KindArchive:
		if len(r.Inputs) == 0 {
			return fail("an archive component needs at least one artifact")
		}
		if r.Content != nil {
			return fail("an archive component has no content")
		}
	case KindFile:
		if !strings.HasPrefix(r.Path, "/") {
			return fail("file path %q must be absolute", r.Path)
		}
		if ok := (r.Content != nil && len(r.Inputs) == 0) || (r.Content == nil && len(r.Inputs) == 1); !ok {
			return fail("a file component needs either content or exactly one artifact")
		}
	default:
		return fail("unknown kind %q (want %s or %s)", r.Kind, KindArchive, KindFile)
	}
	return nil
}

func (r Recipe) write(ctx context.Context, tw *unpack.Writer) error {
	if r.Kind == KindArchive {
		for i, in := range r.Inputs {
			if err := ctx.Err(); err != nil {
				return err
			}
			dest := r.Dest
			if d := r.inputDest(i); d != "" {
				dest = d
			}
			var err error
			switch r.Format {
			case FormatWheel:
				err = pypi.Install(tw, in.Path, in.URL, pypi.InstallOptions{Target: dest, Interpreter: r.Interpreter})
			case FormatGemInstall:
				err = rubygems.Install(tw, in.Path, in.URL, dest)
			case FormatRPM:
				prefix := dest
				if prefix == "/" {
					prefix = ""
				}
				err = rpm.Install(tw, in.Path, in.URL, rpm.InstallOptions{Prefix: prefix})
			default:
				o := unpack.Options{Format: r.Format, Subdir: r.Subdir, Strip: r.Strip, Dest: dest, Epoch: r.Epoch, Name: in.URL}
				err = tw.AddArchive(in.Path, o)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	mode := r.Mode
	if mode == 0 {
		mode = 0o644
	}
	if r.Content != nil {
		return tw.AddFile(r.Path, mode, bytes.NewReader(r.Content), int64(len(r.Content)))
	}
	f, err := os.Open(r.Inputs[0].Path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return tw.AddFile(r.Path, mode, f, fi.Size())
}

// ctxWriter fails writes once ctx is done, so a cancelled build stops
// mid-archive (and the cache discards what was written).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
