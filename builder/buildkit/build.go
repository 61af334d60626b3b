package buildkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/cli/cli/config"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/solver/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
	"golang.org/x/sync/errgroup"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/manifests"
)

// Options configure the BuildKit executor.
type Options struct {
	// Addr is buildkitd's address; empty means ResolveAddr's default.
	Addr string
	TLS  TLS
	// CacheDir is rtbuild's cache directory: the layers rtbuild prepares
	// are built into its layer cache, whose directory is sent to buildkitd
	// as a local source (only the blobs a build needs).
	CacheDir string
	// Registry holds the mirror rules (applied to base, artifact and push
	// references) and the plain-HTTP policy passed on to BuildKit.
	Registry manifests.RegistryOptions
	// HTTPClient fetches the artifacts rtbuild prepares; nil means the
	// download store's default client.
	HTTPClient *http.Client
	// Offline makes rtbuild prepare every layer from its download store:
	// buildkitd then fetches no artifact itself.
	Offline bool
	// Jobs bounds the layers prepared concurrently; 0 means the number of CPUs.
	Jobs int
	// CacheFrom and CacheTo are BuildKit cache imports and exports.
	CacheFrom, CacheTo []CacheSpec
	Reporter           builder.Reporter
}

// Check validates a BuildKit build of plan before any work: what it cannot
// do is a usage error.
func Check(plan *builder.Plan, pub builder.Publish, o Options) error {
	for _, rp := range plan.Runtimes {
		for _, pp := range rp.Platforms {
			if strings.HasPrefix(pp.BaseRef, "oci:") || strings.HasPrefix(pp.BaseRef, "docker:") {
				return &builder.UsageError{Msg: fmt.Sprintf("%s: base %s is a local file, which buildkitd cannot read: push it to a registry (and name it in the catalog) or build with --backend native", rp.Runtime.Identifier, pp.BaseRef)}
			}
		}
	}
	if pub.Push != "" && strings.Contains(o.Registry.Rewrite(pub.Push), "@") {
		return &builder.UsageError{Msg: fmt.Sprintf("--push %s names a digest: give REGISTRY/REPO[:TAG]", pub.Push)}
	}
	if len(plan.Runtimes) > 1 {
		for _, c := range o.CacheTo {
			if !c.hasRuntime() && c.Type != "inline" {
				return &builder.UsageError{Msg: fmt.Sprintf("--cache-to %s is written by each of the %d runtimes built: put {runtime} in it (e.g. ref=REGISTRY/cache:{runtime}) so they do not overwrite each other", c.Type, len(plan.Runtimes))}
			}
		}
	}
	return nil
}

// ComponentError is a component whose vertex failed in BuildKit.
type ComponentError struct {
	Runtime   string
	Arch      images.Arch
	Component string
	Err       error
}

func (e *ComponentError) Error() string {
	if e.Arch == "" {
		return fmt.Sprintf("%s: component %s: %s", e.Runtime, e.Component, oneLine(e.Err.Error()))
	}
	return fmt.Sprintf("%s (%s): component %s: %s", e.Runtime, e.Arch, e.Component, oneLine(e.Err.Error()))
}

func (e *ComponentError) Unwrap() error { return e.Err }

// Build runs the plan on buildkitd and publishes its images: a push is
// BuildKit's (the index at REF), then rtbuild tags each platform at
// REF-<arch>; OCI layouts and docker archives are written by rtbuild from
// BuildKit's OCI export (the same blobs). It returns the build's metadata,
// also written to pub.MetadataFile when set.
func Build(ctx context.Context, plan *builder.Plan, pub builder.Publish, o Options) (*builder.Metadata, error) {
	if o.Reporter == nil {
		o.Reporter = builder.NopReporter{}
	}
	if o.Addr == "" {
		o.Addr = ResolveAddr("", nil)
	}
	if err := Check(plan, pub, o); err != nil {
		return nil, err
	}
	quietLibraries()
	c, err := connect(ctx, o.Addr, o.TLS)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	lb, err := builder.NewLayerBuilder(plan, builder.LayerOptions{
		CacheDir: o.CacheDir, Mirrors: o.Registry.Mirrors, HTTPClient: o.HTTPClient, Offline: o.Offline, Jobs: o.Jobs,
	})
	if err != nil {
		return nil, err
	}
	for _, w := range plan.Warnings {
		o.Reporter.Report(builder.Event{Time: time.Now(), Status: "warning", Message: w})
	}
	prepared, err := prepare(ctx, plan, lb, o)
	if err != nil {
		return nil, err
	}
	localFS, err := layersFS(lb.Cache().Dir())
	if err != nil {
		return nil, err
	}

	b := &build{plan: plan, pub: pub, o: o, c: c, lb: lb, prepared: prepared, localFS: localFS}
	results := make([]*runtimeResult, len(plan.Runtimes))
	defer func() {
		for _, r := range results {
			if r != nil && r.tmp != "" {
				os.RemoveAll(r.tmp)
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	for i, rp := range plan.Runtimes {
		g.Go(func() error {
			r, err := b.solve(gctx, rp)
			results[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	res := &builder.Result{Backend: "buildkit"}
	bk := &builder.BuildKitMetadata{Addr: o.Addr, Prepared: lb.Stats()}
	for _, r := range results {
		res.Images = append(res.Images, r.image)
		bk.Vertices += r.counts.Vertices
		bk.VerticesCached += r.counts.VerticesCached
		bk.ComponentVertices += r.counts.Components
		bk.ComponentVerticesCached += r.counts.ComponentsCached
	}
	res.Stats = builder.Stats{
		LayersBuilt:     int64(bk.ComponentVertices - bk.ComponentVerticesCached),
		LayersCached:    int64(bk.ComponentVerticesCached),
		BytesDownloaded: lb.Stats().BytesDownloaded,
	}
	md, err := builder.Write(ctx, res, plan, builder.Publish{Outputs: pub.Outputs, SBOM: pub.SBOM, Tool: pub.Tool}, o.Registry, o.Reporter)
	if err != nil {
		return nil, err
	}
	md.BuildKit = bk
	for i, r := range results {
		if r.pushed == nil {
			continue
		}
		im := md.Images[i]
		im.Pushed = r.pushed.Index
		for _, pm := range im.Platforms {
			pm.Pushed = r.pushed.Arch[pm.Arch]
		}
		if pub.SBOM {
			// The same documents as in the layouts: a referrer of each platform image.
			sboms, err := builder.ImageSBOMs(plan, r.image, pub.Tool, im)
			if err != nil {
				return nil, err
			}
			ref := strings.ReplaceAll(pub.Push, "{runtime}", r.image.Runtime.Identifier)
			if _, err := manifests.PushReferrers(ctx, ref, sboms, o.Registry); err != nil {
				return nil, fmt.Errorf("%s: pushing the SBOMs to %s: %w", r.image.Runtime.Identifier, ref, err)
			}
		}
	}
	if pub.MetadataFile != "" {
		if err := builder.WriteMetadataFile(pub.MetadataFile, md); err != nil {
			return nil, fmt.Errorf("writing metadata file: %w", err)
		}
	}
	return md, nil
}

var quiet sync.Once

// quietLibraries discards what BuildKit's and containerd's client libraries
// log (through logrus's standard logger, e.g. "failed check for fsverity
// support" when a local content store is opened): rtbuild reports through
// its Reporter, and their failures come back as errors.
func quietLibraries() {
	quiet.Do(func() { logrus.SetOutput(io.Discard) })
}

// prepare builds the layers of the Prepared steps into the layer cache.
func prepare(ctx context.Context, plan *builder.Plan, lb *builder.LayerBuilder, o Options) (map[*builder.Step]*cache.Entry, error) {
	var mu sync.Mutex
	out := map[*builder.Step]*cache.Entry{}
	g, gctx := errgroup.WithContext(ctx)
	for _, rp := range plan.Runtimes {
		for _, pp := range rp.Platforms {
			for _, step := range pp.Steps {
				if loweringOf(step, !o.Offline) != Prepared {
					continue
				}
				ev := func(e builder.Event) {
					e.Time, e.Runtime, e.Arch = time.Now(), rp.Runtime.Identifier, string(pp.Arch)
					// rtbuild's own layer work is "preparing"/"prepared";
					// building, built and cached are BuildKit's answers.
					switch e.Status {
					case "building":
						e.Status = "preparing"
					case "built":
						e.Status = "prepared"
					case "cached":
						e.Status, e.Message = "prepared", "from rtbuild's layer cache "+e.Message
					}
					o.Reporter.Report(e)
				}
				g.Go(func() error {
					e, _, err := lb.Layer(gctx, step, ev)
					if err != nil {
						return fmt.Errorf("%s (%s): component %s: %w", rp.Runtime.Identifier, pp.Arch, step.ComponentKey, err)
					}
					mu.Lock()
					out[step] = e
					mu.Unlock()
					return nil
				})
			}
		}
	}
	return out, g.Wait()
}

// layersFS is the layer cache directory as the local source sends it:
// owners 0:0, so that BuildKit's content checksums of the blobs (its cache
// keys for the component vertices) are the same on every machine.
func layersFS(dir string) (fsutil.FS, error) {
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, fmt.Errorf("the layer cache as a local source: %w", err)
	}
	return fsutil.NewFilterFS(fs, &fsutil.FilterOpt{Map: func(_ string, st *fstypes.Stat) fsutil.MapResult {
		st.Uid, st.Gid = 0, 0
		return fsutil.MapResultKeep
	}})
}

type build struct {
	plan     *builder.Plan
	pub      builder.Publish
	o        Options
	c        *client.Client
	lb       *builder.LayerBuilder
	prepared map[*builder.Step]*cache.Entry
	localFS  fsutil.FS
}

// runtimeResult is one runtime's solve.
type runtimeResult struct {
	image  *builder.ImageResult
	pushed *manifests.PushResult
	counts Counts
	tmp    string // BuildKit's OCI export, removed when the build ends
}

// solvedPlatform is one platform as the build function solved it.
type solvedPlatform struct {
	pp        *builder.PlatformPlan
	platform  ocispecs.Platform
	low       *lowered
	base      *manifests.Base
	baseCfg   []byte
	baseLayer int
	config    []byte
	ref       gwclient.Reference
	// components are the component vertices' digests, in layer order.
	components []digest.Digest
}

// solve builds one runtime's image index in one BuildKit solve.
func (b *build) solve(ctx context.Context, rp *builder.RuntimePlan) (*runtimeResult, error) {
	id := rp.Runtime.Identifier
	rep := b.o.Reporter
	out := &runtimeResult{}
	tr := newTracker(id, rep)

	var exports []client.ExportEntry
	pushRef := ""
	if b.pub.Push != "" {
		pushRef = strings.ReplaceAll(b.pub.Push, "{runtime}", id)
		// BuildKit pushes by digest (blobs, manifests, the index, no tag);
		// rtbuild then tags as the native executor does: each platform at
		// REF-<arch> first, the index at REF last.
		used := b.o.Registry.Rewrite(pushRef)
		attrs := map[string]string{"name": repoOf(used), "push": "true", "push-by-digest": "true", "oci-mediatypes": "true"}
		if b.o.Registry.PlainHTTPAllowed(registryHost(used)) {
			attrs["registry.insecure"] = "true"
		}
		exports = append(exports, client.ExportEntry{Type: client.ExporterImage, Attrs: attrs})
	}
	if len(b.pub.Outputs) > 0 {
		if err := os.MkdirAll(b.o.CacheDir, 0o755); err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp(b.o.CacheDir, ".buildkit-oci-")
		if err != nil {
			return nil, err
		}
		out.tmp = dir
		exports = append(exports, client.ExportEntry{Type: client.ExporterOCI, OutputDir: dir, Attrs: map[string]string{"tar": "false", "name": id}})
	}
	var cacheTo, cacheFrom []client.CacheOptionsEntry
	for _, c := range b.o.CacheTo {
		cacheTo = append(cacheTo, c.entry(id, b.o.Registry))
	}
	for _, c := range b.o.CacheFrom {
		cacheFrom = append(cacheFrom, c.entry(id, b.o.Registry))
	}
	var gwImports []gwclient.CacheOptionsEntry
	for _, c := range cacheFrom {
		gwImports = append(gwImports, gwclient.CacheOptionsEntry{Type: c.Type, Attrs: c.Attrs})
	}

	dockerCfg := config.LoadDefaultConfigFile(io.Discard)
	opt := client.SolveOpt{
		Exports:      exports,
		LocalMounts:  map[string]fsutil.FS{LocalName: b.localFS},
		SharedKey:    sharedKey(b.o.CacheDir),
		CacheExports: cacheTo,
		CacheImports: cacheFrom,
		// Not nil: BuildKit's client adds the cache imports to it.
		FrontendAttrs: map[string]string{},
		Session: []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
			AuthConfigProvider: authprovider.LoadAuthConfig(dockerCfg),
		})},
	}

	solved := make([]*solvedPlatform, len(rp.Platforms))
	var failMu sync.Mutex
	var failure error
	fail := func(err error) error {
		failMu.Lock()
		if failure == nil {
			failure = err
		}
		failMu.Unlock()
		return err
	}
	buildFunc := func(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
		g, gctx := errgroup.WithContext(ctx)
		for i, pp := range rp.Platforms {
			g.Go(func() error {
				sp, err := b.solvePlatform(gctx, c, rp, pp, tr, gwImports)
				if err != nil {
					return fail(err)
				}
				solved[i] = sp
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		res := gwclient.NewResult()
		var ps exptypes.Platforms
		for _, sp := range solved {
			pid := platforms.FormatAll(sp.platform)
			res.AddRef(pid, sp.ref)
			res.AddMeta(exptypes.ExporterImageConfigKey+"/"+pid, sp.config)
			res.AddMeta(exptypes.ExporterImageBaseConfigKey+"/"+pid, sp.baseCfg)
			ps.Platforms = append(ps.Platforms, exptypes.Platform{ID: pid, Platform: sp.platform})
		}
		// The manifest annotations are the same for every platform (the base
		// is named by its index digest): BuildKit matches platform-qualified
		// ones by normalised platform (linux/arm64, without v8), which the
		// arm64 image's platform (linux/arm64/v8) would not match.
		for k, v := range builder.ImageAnnotations(b.plan, rp, solved[0].base) {
			res.AddMeta(exptypes.AnnotationManifestKey(nil, k), []byte(v))
		}
		for k, v := range builder.IndexAnnotations(b.plan, rp.Runtime) {
			res.AddMeta(exptypes.AnnotationIndexKey(k), []byte(v))
		}
		dt, err := json.Marshal(ps)
		if err != nil {
			return nil, err
		}
		res.AddMeta(exptypes.ExporterPlatformsKey, dt)
		return res, nil
	}

	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() { tr.run(ch); close(done) }()
	resp, err := b.c.Build(ctx, opt, "rtbuild", buildFunc, ch)
	<-done
	out.counts = tr.counts()
	if err != nil {
		return out, b.solveError(ctx, id, err, failure, tr)
	}

	dgst, err := v1.NewHash(resp.ExporterResponse[exptypes.ExporterImageDigestKey])
	if err != nil {
		return out, fmt.Errorf("%s: BuildKit reported no image digest: %w", id, err)
	}
	var idx v1.ImageIndex
	if out.tmp != "" {
		lp, err := layout.FromPath(out.tmp)
		if err != nil {
			return out, fmt.Errorf("%s: reading BuildKit's OCI export: %w", id, err)
		}
		top, err := lp.ImageIndex()
		if err != nil {
			return out, fmt.Errorf("%s: reading BuildKit's OCI export: %w", id, err)
		}
		if idx, err = top.ImageIndex(dgst); err != nil {
			return out, fmt.Errorf("%s: reading BuildKit's OCI export: %w", id, err)
		}
	} else {
		if idx, err = manifests.PullIndex(ctx, withDigest(pushRef, dgst.String()), b.o.Registry); err != nil {
			return out, fmt.Errorf("%s: reading the pushed index: %w", id, err)
		}
	}
	ir, err := imageResult(rp, idx, dgst, solved, tr)
	if err != nil {
		return out, fmt.Errorf("%s: %w", id, err)
	}
	out.image = ir
	if pushRef != "" {
		// Every blob and manifest is in the repository already: only the
		// tags are written.
		perArch := map[string]v1.Image{}
		for _, pr := range ir.Platforms {
			perArch[string(pr.Arch)] = pr.Image
		}
		pushed, err := manifests.Push(ctx, pushRef, idx, perArch, b.o.Registry)
		if err != nil {
			return out, fmt.Errorf("%s: tagging each architecture of %s: %w", id, pushRef, err)
		}
		out.pushed = pushed
		rep.Report(builder.Event{Time: time.Now(), Runtime: id, Status: "pushed", Message: pushed.Index})
	}
	return out, nil
}

// solvePlatform resolves the base, lowers the platform to LLB and solves it.
func (b *build) solvePlatform(ctx context.Context, c gwclient.Client, rp *builder.RuntimePlan, pp *builder.PlatformPlan, tr *tracker, imports []gwclient.CacheOptionsEntry) (*solvedPlatform, error) {
	id := rp.Runtime.Identifier
	p := platformOf(pp.Arch)
	used := b.o.Registry.Rewrite(pp.BaseRef)
	logName := vertexName(string(pp.Arch), "resolve base "+pp.BaseRef)
	tr.addNames(map[string]VertexInfo{logName: {Role: RoleBase, Runtime: id, Arch: pp.Arch}})
	_, dgst, cfgBytes, err := c.ResolveImageConfig(ctx, used, sourceresolver.Opt{
		LogName:  logName,
		ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p},
	})
	if err != nil {
		return nil, baseError(id, pp, used, err)
	}
	var bcf v1.ConfigFile
	if err := json.Unmarshal(cfgBytes, &bcf); err != nil {
		return nil, baseError(id, pp, used, fmt.Errorf("its config: %w", err))
	}
	base := &manifests.Base{Ref: pp.BaseRef, Resolved: used}
	if dgst != "" {
		if base.Digest, err = v1.NewHash(dgst.String()); err != nil {
			return nil, baseError(id, pp, used, err)
		}
	}
	low, err := lower(lowerInput{
		Runtime: rp.Runtime, PP: pp, BaseRef: pin(used, dgst), Epoch: b.plan.Epoch, Mirrors: b.o.Registry.Mirrors,
		Prepared: b.prepared, Layers: b.lb.Cache(), DaemonFetch: !b.o.Offline,
	})
	if err != nil {
		return nil, err
	}
	tr.addNames(low.Vertices)
	def, err := low.State.Marshal(ctx, llb.Platform(p))
	if err != nil {
		return nil, fmt.Errorf("%s (%s): marshalling LLB: %w", id, pp.Arch, err)
	}
	byName := map[string]digest.Digest{}
	byDigest := map[digest.Digest]VertexInfo{}
	for d, md := range def.Metadata {
		n := md.Description["llb.customname"]
		if info, ok := low.Vertices[n]; ok {
			byName[n], byDigest[d] = d, info
		}
	}
	tr.addDigests(byDigest)
	components := make([]digest.Digest, len(low.Components))
	for i, n := range low.Components {
		if components[i] = byName[n]; components[i] == "" {
			return nil, fmt.Errorf("%s (%s): component vertex %q missing from the LLB definition", id, pp.Arch, n)
		}
	}
	res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), CacheImports: imports, Evaluate: true})
	if err != nil {
		return nil, vertexError(id, pp, def, low, err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, err
	}

	spec := manifests.ImageSpec{
		Env: pp.Config.Env, EnvFirst: true, WorkingDir: pp.Config.WorkingDir, Entrypoint: pp.Config.Entrypoint,
		Labels: pp.Config.Labels, Created: b.plan.Epoch,
		Platform: v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
	}
	for _, step := range pp.Steps {
		spec.Layers = append(spec.Layers, manifests.LayerSpec{
			CreatedBy: fmt.Sprintf("rtbuild: %s %s (%s)", step.ComponentKey, step.Component.Version, step.Component.Kind),
			Comment:   step.Component.Description,
		})
	}
	cf := manifests.Config(&bcf, len(bcf.RootFS.DiffIDs), spec)
	cfg, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	return &solvedPlatform{
		pp: pp, platform: p, low: low, base: base, baseCfg: cfgBytes, baseLayer: len(bcf.RootFS.DiffIDs),
		config: cfg, ref: ref, components: components,
	}, nil
}

// imageResult describes the exported index as the native executor's result
// does, with each layer attributed to the base or its component.
func imageResult(rp *builder.RuntimePlan, idx v1.ImageIndex, dgst v1.Hash, solved []*solvedPlatform, tr *tracker) (*builder.ImageResult, error) {
	ir := &builder.ImageResult{Runtime: rp.Runtime, Index: idx, Digest: dgst}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, sp := range solved {
		var desc *v1.Descriptor
		for i, d := range im.Manifests {
			if d.Platform != nil && d.Platform.OS == sp.platform.OS && d.Platform.Architecture == sp.platform.Architecture {
				desc = &im.Manifests[i]
			}
		}
		if desc == nil {
			return nil, fmt.Errorf("the exported index has no %s image", platforms.Format(sp.platform))
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, err
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		want := sp.baseLayer + len(sp.pp.Steps)
		if len(m.Layers) != want || len(cf.RootFS.DiffIDs) != want {
			return nil, fmt.Errorf("BuildKit's %s image has %d layers, want %d (base %d + one per component)", sp.pp.Arch, len(m.Layers), want, sp.baseLayer)
		}
		pr := &builder.PlatformResult{Arch: sp.pp.Arch, Image: img, Digest: desc.Digest, Base: sp.base}
		for i, l := range m.Layers {
			lr := builder.LayerResult{Digest: l.Digest, DiffID: cf.RootFS.DiffIDs[i], Size: l.Size}
			if i < sp.baseLayer {
				lr.Component, lr.Version, lr.Cache = "base", rp.Base.Name, "base"
			} else {
				step := sp.pp.Steps[i-sp.baseLayer]
				lr.Component, lr.Version, lr.Cache = step.ComponentKey, step.Component.Version, "miss"
				if cached, _ := tr.cached(sp.components[i-sp.baseLayer]); cached {
					lr.Cache = "hit"
				}
			}
			pr.Layers = append(pr.Layers, lr)
		}
		tr.reporter.Report(builder.Event{Time: time.Now(), Runtime: rp.Runtime.Identifier, Arch: string(sp.pp.Arch), Status: "done", Message: desc.Digest.String()})
		ir.Platforms = append(ir.Platforms, pr)
	}
	return ir, nil
}

// sharedKey names this client's local sources for buildkitd, which keeps
// what it received under it and later transfers only what changed.
func sharedKey(cacheDir string) string {
	host, _ := os.Hostname()
	s := sha256.Sum256([]byte(host + "\x00" + cacheDir))
	return "rtbuild-" + hex.EncodeToString(s[:8])
}

// pin adds the resolved digest to a reference that has none.
func pin(ref string, dgst digest.Digest) string {
	if dgst == "" || strings.Contains(ref, "@") {
		return ref
	}
	return ref + "@" + dgst.String()
}

// repoOf returns REPO for REPO[:TAG].
func repoOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// withDigest returns REPO@DIGEST for REPO[:TAG].
func withDigest(ref, dgst string) string { return repoOf(ref) + "@" + dgst }

func baseError(id string, pp *builder.PlatformPlan, used string, err error) error {
	msg := fmt.Sprintf("%s (%s): base %s", id, pp.Arch, pp.BaseRef)
	if used != pp.BaseRef {
		msg += " (mirrored to " + used + ")"
	}
	return fmt.Errorf("%s: %s", msg, cleanError(err))
}

// vertexError names the component whose vertex failed, from the error's
// vertex digest and the definition's names.
func vertexError(id string, pp *builder.PlatformPlan, def *llb.Definition, low *lowered, err error) error {
	var ve *errdefs.VertexError
	if errors.As(err, &ve) {
		if md, ok := def.Metadata[digest.Digest(ve.Digest)]; ok {
			if info, ok := low.Vertices[md.Description["llb.customname"]]; ok {
				if e := infoError(id, info, err); e != nil {
					return e
				}
			}
		}
	}
	return fmt.Errorf("%s (%s): %s", id, pp.Arch, cleanError(err))
}

// infoError is err attributed to the vertex info describes.
func infoError(id string, info VertexInfo, err error) error {
	switch info.Role {
	case RoleComponent, RoleDownload:
		return &ComponentError{Runtime: id, Arch: info.Arch, Component: info.Component, Err: componentCause(err, info.URL)}
	}
	return nil
}

// solveError is the one-line error of a failed solve: the failure the build
// function saw first, else the first failed vertex of the status stream.
func (b *build) solveError(ctx context.Context, id string, err, failure error, tr *tracker) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failure != nil {
		return failure
	}
	if st := tr.failed(); st != nil {
		if st.info != nil {
			if e := infoError(id, *st.info, errors.New(st.err)); e != nil {
				return e
			}
		}
		return fmt.Errorf("%s: buildkit: %s: %s", id, st.name, cleanError(errors.New(st.err)))
	}
	if isTLSError(err) || strings.Contains(err.Error(), "Unavailable") || strings.Contains(err.Error(), "connection") {
		return &ConnectError{Addr: b.o.Addr, TLS: isTLSError(err), Err: err}
	}
	return fmt.Errorf("%s: buildkit: %s", id, cleanError(err))
}
