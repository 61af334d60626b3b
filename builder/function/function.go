// Package function builds Lambda container-image functions: a runtime image
// (built from the catalog by the native executor, through the same layer
// cache as `rtbuild image`, or any image pulled as a base), then one
// deterministic, cached layer for the function's code under /var/task and
// one per Lambda layer under /opt, in order, with the handler as CMD.
//
// Layers are keyed by the sha256 of the tar they are made of, so a change to
// the code rebuilds (and a push uploads) the code layer only. Every file is
// made readable by Lambda's unprivileged user (FixMode). Publishing follows
// what Lambda accepts: single-architecture manifests, an index only when
// asked.
package function

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/manifests"
)

// Request is the function image the user asked for.
type Request struct {
	// Runtime is a catalog runtime identifier; Base an image reference
	// (REGISTRY/REPO[:TAG][@DIGEST], oci:DIR[:REF], docker:FILE[:TAG]).
	// Exactly one is set.
	Runtime string
	Base    string
	Handler string
	// Src is a directory of code; Zip a Lambda .zip deployment package.
	// Exactly one is set.
	Src string
	Zip string
	// IgnoreFile is the .dockerignore-style file applied to Src; "" means
	// Src/.dockerignore when it exists.
	IgnoreFile string
	// Exclude are paths left out of Src: the command's own outputs (an
	// OCI layout, a docker archive, the metadata file) when written there.
	Exclude []string
	// Layers are Lambda layers (.zip files or directories), in order.
	Layers []string
	// Env are KEY=VALUE entries set over the base's (Docker ENV semantics).
	Env []string
	// Archs: empty means every arch of the runtime, or x86_64 with Base.
	Archs           []images.Arch
	AllowDeprecated bool
	// Locked refuses any artifact of the runtime not pinned by sha256.
	Locked bool
	Today  time.Time
}

// Result is a built function image: one image per architecture.
type Result struct {
	// Name is the runtime identifier or the base reference.
	Name      string
	Catalog   string
	Epoch     time.Time
	Platforms []*builder.PlatformResult
	// Index joins the platforms (for OCI layouts, and a push with --index).
	Index v1.ImageIndex
	Stats builder.Stats
	// Warnings were reported already; they are kept for the caller.
	Warnings []string
	// Plan and Runtime are the runtime image's plan and build (--runtime);
	// nil with --base. The SBOM is made from them.
	Plan    *builder.Plan
	Runtime *builder.ImageResult
}

// Check validates the request before any work.
func (r Request) Check() error {
	usage := func(f string, a ...any) error { return &builder.UsageError{Msg: fmt.Sprintf(f, a...)} }
	switch {
	case (r.Runtime == "") == (r.Base == ""):
		return usage("give exactly one of --runtime ID (built from the catalog) and --base REF (any runtime image)")
	case r.Handler == "":
		return usage("--handler is required: it becomes the image's CMD, e.g. --handler app.handler")
	case (r.Src == "") == (r.Zip == ""):
		return usage("give exactly one of --src DIR (a directory of code) and --zip FILE (a .zip deployment package)")
	case r.Src != "" && !isDir(r.Src):
		return usage("--src %s is not a directory", r.Src)
	case r.Zip != "" && !isFile(r.Zip):
		return usage("--zip %s is not a file", r.Zip)
	}
	for _, l := range r.Layers {
		if !isDir(l) && !isFile(l) {
			return usage("--layer %s is neither a .zip file nor a directory", l)
		}
	}
	for _, e := range r.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return usage("invalid --env %q: use KEY=VALUE", e)
		}
	}
	return nil
}

func isDir(p string) bool  { fi, err := os.Stat(p); return err == nil && fi.IsDir() }
func isFile(p string) bool { fi, err := os.Stat(p); return err == nil && fi.Mode().IsRegular() }

// Build builds the function image of req for each architecture: the runtime
// image (built by the native executor, or pulled), then the code and layer
// layers (built once, shared by every architecture), then the config.
func Build(ctx context.Context, cat *images.Catalog, req Request, epoch time.Time, opts builder.Options) (*Result, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	rep := opts.Reporter
	if rep == nil {
		rep = builder.NopReporter{}
	}
	res := &Result{Catalog: cat.Version, Epoch: epoch}
	type runtimeImage struct {
		arch  images.Arch
		base  *manifests.Base
		layer []builder.LayerResult
	}
	var bases []runtimeImage

	var plan *builder.Plan
	if req.Runtime != "" {
		var err error
		plan, err = builder.MakePlan(cat, builder.Request{
			Runtimes: []string{req.Runtime}, Archs: req.Archs, AllowDeprecated: req.AllowDeprecated, Today: req.Today, Locked: req.Locked,
		}, epoch)
		if err != nil {
			return nil, err
		}
		res.Warnings = plan.Warnings
	}

	// The function's own layers first (the same for every architecture):
	// unsafe input is refused before anything is downloaded.
	lc, err := cache.Open(filepath.Join(opts.CacheDir, "layers"))
	if err != nil {
		return nil, fmt.Errorf("opening the layer cache: %w", err)
	}
	type fnLayer struct {
		spec   manifests.LayerSpec
		result builder.LayerResult
	}
	var fn []fnLayer
	add := func(component, createdBy string, in Input) error {
		rep.Report(builder.Event{Time: time.Now(), Component: component, Status: "building", Message: in.Path})
		e, hit, err := BuildLayer(lc, in, epoch)
		if err != nil {
			return err
		}
		l, err := lc.Layer(e)
		if err != nil {
			return err
		}
		state, status := "miss", "built"
		if hit {
			state, status = "hit", "cached"
			res.Stats.LayersCached++
		} else {
			res.Stats.LayersBuilt++
		}
		rep.Report(builder.Event{Time: time.Now(), Component: component, Status: status, Message: e.Digest.String()})
		fn = append(fn, fnLayer{
			spec:   manifests.LayerSpec{Layer: l, CreatedBy: createdBy},
			result: builder.LayerResult{Component: component, Digest: e.Digest, DiffID: e.DiffID, Size: e.Size, Cache: state},
		})
		return nil
	}
	code := Input{Dest: "/var/task", Confine: true}
	if req.Src != "" {
		code.Path, code.IgnoreFile, code.Exclude = req.Src, req.IgnoreFile, req.Exclude
		if code.IgnoreFile == "" && isFile(filepath.Join(req.Src, ".dockerignore")) {
			code.IgnoreFile = filepath.Join(req.Src, ".dockerignore")
		}
	} else {
		code.Path = req.Zip
	}
	if err := add("function-code", "rtbuild function: code from "+filepath.Base(code.Path)+" under /var/task", code); err != nil {
		return nil, fmt.Errorf("function code: %w", err)
	}
	for i, l := range req.Layers {
		name := fmt.Sprintf("function-layer-%d", i+1)
		if err := add(name, fmt.Sprintf("rtbuild function: layer %d (%s) under /opt", i+1, filepath.Base(l)), Input{Path: l, Dest: "/opt"}); err != nil {
			return nil, fmt.Errorf("--layer %s: %w", l, err)
		}
	}

	if req.Runtime != "" {
		br, err := builder.Build(ctx, plan, opts)
		if err != nil {
			return nil, err
		}
		res.Name, res.Plan, res.Runtime = req.Runtime, plan, br.Images[0]
		res.Stats.LayersBuilt += br.Stats.LayersBuilt
		res.Stats.LayersCached += br.Stats.LayersCached
		res.Stats.BytesDownloaded += br.Stats.BytesDownloaded
		for _, pr := range br.Images[0].Platforms {
			bases = append(bases, runtimeImage{arch: pr.Arch, layer: pr.Layers,
				base: &manifests.Base{Ref: "rtbuild:" + req.Runtime, Resolved: "rtbuild:" + req.Runtime, Digest: pr.Digest, Image: pr.Image}})
		}
	} else {
		archs := req.Archs
		if len(archs) == 0 {
			archs = []images.Arch{images.X86_64}
		}
		res.Name = req.Base
		for _, a := range archs {
			rep.Report(builder.Event{Time: time.Now(), Arch: string(a), Component: "base", Status: "resolving", Message: req.Base})
			ro := opts.Registry
			if opts.CacheDir != "" {
				ro.MetadataDir = builder.MetadataDir(opts.CacheDir)
			}
			b, err := manifests.PullBase(ctx, req.Base, platformOf(a), ro)
			if err != nil {
				return nil, err
			}
			layers, err := baseLayers(b)
			if err != nil {
				return nil, err
			}
			bases = append(bases, runtimeImage{arch: a, base: b, layer: layers})
		}
	}

	var imgs []v1.Image
	for _, b := range bases {
		spec := manifests.ImageSpec{
			Base:     b.base,
			Env:      req.Env,
			Cmd:      []string{req.Handler},
			Created:  epoch,
			Platform: platformOf(b.arch),
			Annotations: map[string]string{
				specs.AnnotationCreated: epoch.UTC().Format(time.RFC3339),
				specs.AnnotationSource:  builder.SourceURL,
				"rtbuild.function":      req.Handler,
			},
		}
		if req.Runtime != "" {
			// NewImage also records the base: rtbuild:<runtime> and the
			// runtime image's digest for this platform.
			spec.Annotations["rtbuild.runtime"] = req.Runtime
		}
		pr := &builder.PlatformResult{Arch: b.arch, Base: b.base, Layers: append([]builder.LayerResult{}, b.layer...)}
		for _, l := range fn {
			spec.Layers = append(spec.Layers, l.spec)
			pr.Layers = append(pr.Layers, l.result)
		}
		img, err := manifests.NewImage(spec)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): assembling the function image: %w", res.Name, b.arch, err)
		}
		if pr.Digest, err = img.Digest(); err != nil {
			return nil, err
		}
		pr.Image = img
		res.Platforms = append(res.Platforms, pr)
		imgs = append(imgs, img)
		rep.Report(builder.Event{Time: time.Now(), Arch: string(b.arch), Status: "done", Message: pr.Digest.String()})
	}
	if res.Index, err = manifests.NewIndex(imgs, map[string]string{specs.AnnotationSource: builder.SourceURL}); err != nil {
		return nil, err
	}
	return res, nil
}

func platformOf(a images.Arch) v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: a.OCI()}
	if a == images.Arm64 {
		p.Variant = "v8"
	}
	return p
}

// baseLayers describes a pulled base's layers for the metadata.
func baseLayers(b *manifests.Base) ([]builder.LayerResult, error) {
	ls, err := b.Image.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the layers of %s: %w", b.Ref, err)
	}
	var out []builder.LayerResult
	for _, l := range ls {
		lr := builder.LayerResult{Component: "base", Cache: "base"}
		if lr.Digest, err = l.Digest(); err != nil {
			return nil, err
		}
		if lr.DiffID, err = l.DiffID(); err != nil {
			return nil, err
		}
		if lr.Size, err = l.Size(); err != nil {
			return nil, err
		}
		out = append(out, lr)
	}
	return out, nil
}
