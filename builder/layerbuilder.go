package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers"
	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/layers/fetch"
	"github.com/rtbuild/rtbuild/layers/mirror"
)

// LayerOptions configure a LayerBuilder.
type LayerOptions struct {
	// CacheDir holds the download store (downloads/) and the layer cache (layers/).
	CacheDir string
	// Mirrors rewrite artifact URLs.
	Mirrors mirror.Rules
	// HTTPClient fetches artifacts; nil means the store's default client.
	HTTPClient *http.Client
	Offline    bool
	// Jobs bounds concurrent layer builds; 0 means DefaultJobs().
	Jobs int
	// Compression of the layers built and served: gzip when empty.
	Compression cache.Compression
}

// LayerBuilder turns plan steps into layers of the layer cache: it fetches
// their artifacts into the download store and builds each layer at most
// once per build, even when several images share it. Both executors use it:
// the native one assembles images from its layers, the BuildKit one sends
// them to buildkitd.
type LayerBuilder struct {
	epochPlan *Plan
	store     *fetch.Store
	cache     *cache.Cache
	sem       chan struct{}
	fetches   limiter // bounds concurrent Fetch calls (downloads, store lookups)
	layers    singleflight.Group
	built     atomic.Int64
	cached    atomic.Int64
	download  atomic.Int64
	mu        sync.Mutex
	counted   map[string]bool // layer keys already counted
	dl        *downloadWatch
}

// NewLayerBuilder opens the download store and the layer cache under o.CacheDir.
func NewLayerBuilder(plan *Plan, o LayerOptions) (*LayerBuilder, error) {
	if o.Jobs <= 0 {
		o.Jobs = DefaultJobs()
	}
	dl := &downloadWatch{watchers: map[string]map[int]func(Event){}}
	store, err := fetch.NewStore(o.CacheDir+"/downloads", fetch.Options{
		Client:   o.HTTPClient,
		Mirrors:  o.Mirrors,
		Offline:  o.Offline,
		Progress: dl.progress,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the download store: %w", err)
	}
	lc, err := cache.Open(o.CacheDir + "/layers")
	if err != nil {
		return nil, fmt.Errorf("opening the layer cache: %w", err)
	}
	lc = lc.WithCompression(o.Compression)
	return &LayerBuilder{epochPlan: plan, store: store, cache: lc, sem: make(chan struct{}, o.Jobs), fetches: newLimiter(FetchJobs), counted: map[string]bool{}, dl: dl}, nil
}

// Store is the download store.
func (b *LayerBuilder) Store() *fetch.Store { return b.store }

// Cache is the layer cache.
func (b *LayerBuilder) Cache() *cache.Cache { return b.cache }

// Stats returns what the builder did so far: layers built and found in the
// cache (each counted once per build) and bytes downloaded.
func (b *LayerBuilder) Stats() Stats {
	return Stats{LayersBuilt: b.built.Load(), LayersCached: b.cached.Load(), BytesDownloaded: b.download.Load()}
}

// AddDownloaded counts bytes downloaded outside the builder (base layers).
func (b *LayerBuilder) AddDownloaded(n int64) { b.download.Add(n) }

// Recipe returns the layer recipe of step, without its inputs fetched.
func (b *LayerBuilder) Recipe(step *Step) layers.Recipe {
	comp := step.Component
	r := layers.Recipe{
		Component: step.ComponentKey, Version: comp.Version, Kind: comp.Kind,
		Format: comp.Format, Strip: comp.Strip, Subdir: comp.Subdir, Dest: comp.Dest,
		Path: comp.Path, Mode: step.FileMode(), Content: step.Content,
		Epoch: b.epochPlan.Epoch,
	}
	if comp.Format == layers.FormatWheel {
		r.Interpreter = "/usr/bin/env python3"
		if comp.Resolve != nil && strings.HasPrefix(comp.Resolve.Python, "2") {
			r.Interpreter = "/usr/bin/env python2"
		}
	}
	if comp.Kind == images.KindFile && len(step.Sources) == 0 && r.Content == nil {
		r.Content = []byte{}
	}
	for _, s := range step.Sources {
		r.Inputs = append(r.Inputs, &fetch.Artifact{URL: s.URL, SHA256: s.SHA256})
		if s.Dest != "" {
			if r.InputDests == nil {
				r.InputDests = make([]string, len(step.Sources))
			}
		}
	}
	if r.InputDests != nil {
		for i, s := range step.Sources {
			r.InputDests[i] = s.Dest
		}
	}
	if step.builtinArchive() {
		// A tree shipped inside rtbuild: an uncompressed tar, content-addressed
		// like any downloaded artifact.
		sum := sha256.Sum256(step.Content)
		r.Format, r.Content = "tar", nil
		r.Inputs = []*fetch.Artifact{{URL: "rtbuild-builtin:" + comp.Builtin, SHA256: hex.EncodeToString(sum[:])}}
	}
	return r
}

// builtinArchive says whether step is an archive shipped inside rtbuild.
func (s *Step) builtinArchive() bool {
	return s.Component.Kind == images.KindArchive && s.Component.Builtin != "" && len(s.Sources) == 0
}

// Layer returns the cached layer of a step, building it at most once per
// build. The cache key is computed from pinned digests first, so a hit
// needs neither the network nor the store. ev receives the step's events
// (Component and Version are filled in). hit says whether the layer was in
// the cache.
func (b *LayerBuilder) Layer(ctx context.Context, step *Step, ev func(Event)) (*cache.Entry, bool, error) {
	comp := step.Component
	recipe := b.Recipe(step)
	pinned := true
	for _, s := range step.Sources {
		if s.SHA256 == "" {
			pinned = false
		}
	}
	evc := func(e Event) {
		e.Component, e.Version = step.ComponentKey, comp.Version
		ev(e)
	}
	if pinned {
		if e, ok, err := b.cache.Get(recipe.Key()); err != nil {
			return nil, false, err
		} else if ok {
			b.count(e.Key, true)
			evc(Event{Status: "cached", Message: e.Digest.String()})
			return e, true, nil
		}
	}
	type built struct {
		e   *cache.Entry
		hit bool
	}
	// Fetch (or find) the inputs, then build under the key they give.
	inputs := make([]*fetch.Artifact, len(step.Sources))
	for i, s := range step.Sources {
		evc(Event{Status: "downloading", Message: s.URL})
		unwatch := b.dl.watch(s.URL, evc)
		if err := b.fetches.acquire(ctx); err != nil {
			unwatch()
			return nil, false, err
		}
		a, err := b.store.Fetch(ctx, s.URL, s.SHA256)
		b.fetches.release()
		unwatch()
		if err != nil {
			return nil, false, err
		}
		b.download.Add(a.Downloaded)
		b.epochPlan.recordArtifact(s.URL, a.SHA256)
		if a.Downloaded > 0 {
			evc(Event{Status: "downloaded", Bytes: a.Downloaded, Message: s.URL})
		}
		inputs[i] = a
	}
	if step.builtinArchive() {
		a := recipe.Inputs[0]
		if rc, ok := b.store.OpenBlob(a.SHA256); ok {
			rc.Close()
		} else if _, err := b.store.PutBlob(a.SHA256, bytes.NewReader(step.Content)); err != nil {
			return nil, false, err
		}
		inputs = []*fetch.Artifact{{URL: a.URL, SHA256: a.SHA256, Path: b.store.BlobPath(a.SHA256), Size: int64(len(step.Content))}}
	}
	recipe.Inputs = inputs
	key := recipe.Key()
	build := func() (any, error) {
		b.sem <- struct{}{}
		defer func() { <-b.sem }()
		if e, ok, err := b.cache.Get(key); err != nil {
			return nil, err
		} else if ok {
			return built{e, true}, nil
		}
		evc(Event{Status: "building"})
		e, hit, err := layers.Build(ctx, b.cache, recipe)
		if err != nil {
			return nil, err
		}
		return built{e, hit}, nil
	}
	v, err, _ := b.layers.Do(key, build)
	for err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		// Another image's build of the same layer was cancelled (one of its
		// other layers failed); this one was not: build it again.
		v, err, _ = b.layers.Do(key, build)
	}
	if err != nil {
		return nil, false, err
	}
	bl := v.(built)
	b.count(bl.e.Key, bl.hit)
	if bl.hit {
		evc(Event{Status: "cached", Message: bl.e.Digest.String()})
	} else {
		evc(Event{Status: "built", Bytes: bl.e.Size, Message: bl.e.Digest.String()})
	}
	return bl.e, bl.hit, nil
}

// count records a layer in the stats once per build, however many images share it.
func (b *LayerBuilder) count(key string, hit bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.counted[key] {
		return
	}
	b.counted[key] = true
	if hit {
		b.cached.Add(1)
	} else {
		b.built.Add(1)
	}
}

// FileMode is the mode of a file component's file (0644 unless the catalog
// says otherwise); zero for archives.
func (s *Step) FileMode() os.FileMode { return parseMode(s.Component.Mode, s.Component.Kind) }
