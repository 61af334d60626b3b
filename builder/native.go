package builder

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/manifests"
)

// Options configure the native executor.
type Options struct {
	// CacheDir holds the download store (downloads/) and the layer cache (layers/).
	CacheDir string
	Registry manifests.RegistryOptions
	// HTTPClient fetches artifacts; nil means the store's default client.
	HTTPClient *http.Client
	Offline    bool
	// Jobs bounds concurrent layer builds; 0 means DefaultJobs().
	Jobs     int
	Reporter Reporter
	// Compression of rtbuild's layers: gzip (the default) or zstd. Part
	// of each layer's cache entry.
	Compression cache.Compression
}

// Result is what a build produced.
type Result struct {
	// Backend is the executor that built the images: native or buildkit.
	Backend string
	Images  []*ImageResult
	Stats   Stats
	// stats, when set, returns Stats up to date (Write updates Stats with it).
	stats func() Stats
}

// Stats count the work a build did.
type Stats struct {
	LayersBuilt     int64 `json:"layersBuilt"`
	LayersCached    int64 `json:"layersCached"`
	BytesDownloaded int64 `json:"bytesDownloaded"`
}

// ImageResult is one runtime image: an index over its platforms.
type ImageResult struct {
	Runtime   *images.Runtime
	Index     v1.ImageIndex
	Digest    v1.Hash
	Platforms []*PlatformResult
}

// PlatformResult is one single-architecture image.
type PlatformResult struct {
	Arch   images.Arch
	Image  v1.Image
	Digest v1.Hash
	Base   *manifests.Base
	Layers []LayerResult
}

// LayerResult says where a layer of an image came from.
type LayerResult struct {
	Component string  `json:"component"`
	Version   string  `json:"version,omitempty"`
	Digest    v1.Hash `json:"digest"`
	DiffID    v1.Hash `json:"diffID"`
	Size      int64   `json:"size"`
	// Cache is "hit" or "miss" for rtbuild's layers and "base" for the base image's.
	Cache string `json:"cache"`
}

// executor is one native build in progress.
type executor struct {
	// ctx outlives the build phase: base layers are fetched lazily, when
	// outputs are written, with the context their pull was made with.
	ctx      context.Context
	plan     *Plan
	opts     Options
	lb       *LayerBuilder
	reporter Reporter
	bases    singleflight.Group
	baseDown atomic.Int64
}

// Build runs the plan with the native, in-process executor.
func Build(ctx context.Context, plan *Plan, opts Options) (*Result, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = DefaultJobs()
	}
	if opts.Reporter == nil {
		opts.Reporter = NopReporter{}
	}
	lb, err := NewLayerBuilder(plan, LayerOptions{
		CacheDir: opts.CacheDir, Mirrors: opts.Registry.Mirrors, HTTPClient: opts.HTTPClient,
		Offline: opts.Offline, Jobs: opts.Jobs, Compression: opts.Compression,
	})
	if err != nil {
		return nil, err
	}
	ex := &executor{ctx: ctx, plan: plan, opts: opts, lb: lb, reporter: opts.Reporter}
	for _, w := range plan.Warnings {
		ex.reporter.Report(Event{Time: time.Now(), Status: "warning", Message: w})
	}
	res := &Result{Backend: "native"}
	g, gctx := errgroup.WithContext(ctx)
	for _, rp := range plan.Runtimes {
		ir := &ImageResult{Runtime: rp.Runtime, Platforms: make([]*PlatformResult, len(rp.Platforms))}
		res.Images = append(res.Images, ir)
		for i, pp := range rp.Platforms {
			g.Go(func() error {
				pr, err := ex.buildPlatform(gctx, rp, pp)
				if err != nil {
					return err
				}
				ir.Platforms[i] = pr
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, ir := range res.Images {
		imgs := make([]v1.Image, len(ir.Platforms))
		for i, pr := range ir.Platforms {
			imgs[i] = pr.Image
		}
		idx, err := manifests.NewIndex(imgs, IndexAnnotations(plan, ir.Runtime))
		if err != nil {
			return nil, fmt.Errorf("%s: assembling the image index: %w", ir.Runtime.Identifier, err)
		}
		d, err := idx.Digest()
		if err != nil {
			return nil, fmt.Errorf("%s: digest of the image index: %w", ir.Runtime.Identifier, err)
		}
		ir.Index, ir.Digest = idx, d
	}
	res.Stats = lb.Stats()
	res.Stats.BytesDownloaded += ex.baseDown.Load()
	// Base layers are fetched while outputs are written: Write counts them.
	res.stats = func() Stats { s := lb.Stats(); s.BytesDownloaded += ex.baseDown.Load(); return s }
	return res, nil
}

func (ex *executor) buildPlatform(ctx context.Context, rp *RuntimePlan, pp *PlatformPlan) (*PlatformResult, error) {
	rt := rp.Runtime
	platform := v1.Platform{OS: "linux", Architecture: pp.Arch.OCI()}
	if pp.Arch == images.Arm64 {
		platform.Variant = "v8"
	}
	ev := func(e Event) {
		e.Time, e.Runtime, e.Arch = time.Now(), rt.Identifier, string(pp.Arch)
		ex.reporter.Report(e)
	}

	// The base and the layers are fetched concurrently.
	var base *manifests.Base
	entries := make([]*cache.Entry, len(pp.Steps))
	hits := make([]bool, len(pp.Steps))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		ev(Event{Component: "base", Status: "resolving", Message: pp.BaseRef})
		b, err := ex.pullBase(pp.BaseRef, platform)
		if err != nil {
			return err
		}
		base = b
		ev(Event{Component: "base", Status: "resolved", Message: b.Ref})
		return nil
	})
	for i, step := range pp.Steps {
		g.Go(func() error {
			e, hit, err := ex.lb.Layer(gctx, step, ev)
			if err != nil {
				if gctx.Err() == nil {
					ev(Event{Component: step.ComponentKey, Version: step.Component.Version, Status: "failed", Message: err.Error()})
				}
				return fmt.Errorf("%s (%s): component %s: %w", rt.Identifier, pp.Arch, step.ComponentKey, err)
			}
			entries[i], hits[i] = e, hit
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	pr := &PlatformResult{Arch: pp.Arch, Base: base}
	baseLayers, err := base.Image.Layers()
	if err != nil {
		return nil, fmt.Errorf("%s (%s): reading base layers: %w", rt.Identifier, pp.Arch, err)
	}
	for _, l := range baseLayers {
		lr := LayerResult{Component: "base", Version: rp.Base.Name, Cache: "base"}
		if lr.Digest, err = l.Digest(); err != nil {
			return nil, err
		}
		if lr.DiffID, err = l.DiffID(); err != nil {
			return nil, err
		}
		if lr.Size, err = l.Size(); err != nil {
			return nil, err
		}
		pr.Layers = append(pr.Layers, lr)
	}
	spec := manifests.ImageSpec{
		Base:        base,
		Env:         pp.Config.Env,
		EnvFirst:    true,
		WorkingDir:  pp.Config.WorkingDir,
		Entrypoint:  pp.Config.Entrypoint,
		Labels:      pp.Config.Labels,
		Created:     ex.plan.Epoch,
		Platform:    platform,
		Annotations: ImageAnnotations(ex.plan, rp, base),
	}
	for i, step := range pp.Steps {
		e := entries[i]
		l, err := ex.lb.Cache().Layer(e)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): component %s: %w", rt.Identifier, pp.Arch, step.ComponentKey, err)
		}
		spec.Layers = append(spec.Layers, manifests.LayerSpec{
			Layer:     l,
			CreatedBy: fmt.Sprintf("rtbuild: %s %s (%s)", step.ComponentKey, step.Component.Version, step.Component.Kind),
			Comment:   step.Component.Description,
		})
		cacheState := "miss"
		if hits[i] {
			cacheState = "hit"
		}
		pr.Layers = append(pr.Layers, LayerResult{
			Component: step.ComponentKey, Version: step.Component.Version,
			Digest: e.Digest, DiffID: e.DiffID, Size: e.Size, Cache: cacheState,
		})
	}
	img, err := manifests.NewImage(spec)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): assembling the image: %w", rt.Identifier, pp.Arch, err)
	}
	if pr.Digest, err = img.Digest(); err != nil {
		return nil, fmt.Errorf("%s (%s): image digest: %w", rt.Identifier, pp.Arch, err)
	}
	pr.Image = img
	ev(Event{Status: "done", Message: pr.Digest.String()})
	return pr, nil
}

// pullBase resolves a base once per (ref, platform) for the whole build.
func (ex *executor) pullBase(ref string, platform v1.Platform) (*manifests.Base, error) {
	v, err, _ := ex.bases.Do(ref+"|"+platform.String(), func() (any, error) {
		var b *manifests.Base
		var err error
		if ex.opts.Offline && !strings.HasPrefix(ref, "oci:") && !strings.HasPrefix(ref, "docker:") {
			b, err = manifests.PullSavedBase(BasesDir(ex.opts.CacheDir), ref, platform)
		} else {
			o := ex.opts.Registry
			if ex.opts.CacheDir != "" {
				o.MetadataDir = MetadataDir(ex.opts.CacheDir)
			}
			b, err = manifests.PullBase(ex.ctx, ref, platform, o)
		}
		if err != nil {
			return nil, err
		}
		b.Image = newStoredImage(b.Image, ex.lb.Store(), &ex.baseDown)
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*manifests.Base), nil
}
