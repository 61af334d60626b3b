package buildkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/layers/mirror"
)

// LocalName is the name of the local source holding the layers rtbuild
// prepares: the layer cache directory, of which only the blobs a build
// needs are sent (by include patterns).
const LocalName = "rtbuild-layers"

// Lowering is how a component becomes its LLB vertex.
type Lowering int

const (
	// Prepared: rtbuild builds the layer into its layer cache (as the
	// native executor does) and the vertex unpacks that blob, sent as a
	// local source, into an empty file system. Archives need this: their
	// strip, subdir and dest mapping, format detection and normalisation
	// (owners 0:0, clamped mtimes, refused unsafe entries) are rtbuild's.
	Prepared Lowering = iota
	// Download: buildkitd fetches the file itself (llb.HTTP with the pinned
	// sha256 as its checksum, so the cache key is the digest) and the
	// vertex copies it to its path. For file components with one pinned
	// artifact.
	Download
	// Inline: the content (a builtin or inline file) travels in the LLB
	// definition (llb.Mkfile, a vertex of its own) and the vertex copies it
	// to its path.
	Inline
)

// Role says what an LLB vertex rtbuild made stands for.
type Role string

// Vertex roles.
const (
	RoleComponent Role = "component" // one component's layer
	RoleDownload  Role = "download"  // an artifact buildkitd fetches for a component
	RoleContent   Role = "content"   // a component's inline content
	RoleBase      Role = "base"      // the base image
	RoleLayers    Role = "layers"    // the prepared layers sent from rtbuild
	RoleImage     Role = "image"     // the merge of base and component layers
)

// VertexInfo describes a named vertex of a lowered platform.
type VertexInfo struct {
	Role      Role
	Runtime   string
	Arch      images.Arch
	Component string // for RoleComponent, RoleDownload and RoleContent
	Version   string
	URL       string // for RoleDownload: the artifact's catalog URL
}

// LoweringOf says how step is lowered when buildkitd may fetch artifacts.
func LoweringOf(step *builder.Step) Lowering { return loweringOf(step, true) }

// loweringOf says how step is lowered; without daemonFetch, buildkitd
// fetches nothing (offline builds: every artifact from the download store).
func loweringOf(step *builder.Step, daemonFetch bool) Lowering {
	comp := step.Component
	if comp.Kind != images.KindFile || step.FileMode()&^os.ModePerm != 0 {
		return Prepared
	}
	switch {
	case len(step.Sources) == 0:
		return Inline
	case daemonFetch && len(step.Sources) == 1 && step.Sources[0].SHA256 != "":
		return Download
	}
	return Prepared
}

// platformOf is the OCI platform of an arch, as the native executor sets it.
func platformOf(a images.Arch) ocispecs.Platform {
	p := ocispecs.Platform{OS: "linux", Architecture: a.OCI()}
	if a == images.Arm64 {
		p.Variant = "v8"
	}
	return p
}

// lowered is one platform image as LLB.
type lowered struct {
	State    llb.State
	Platform ocispecs.Platform
	// Vertices maps the custom name of every vertex rtbuild names to what
	// it stands for.
	Vertices map[string]VertexInfo
	// Components are the component vertices' names, in layer order.
	Components []string
	// Blobs are the prepared blobs the platform needs, relative to the
	// local source (the layer cache directory).
	Blobs []string
}

// lowerInput is what lowering one platform needs.
type lowerInput struct {
	Runtime *images.Runtime
	PP      *builder.PlatformPlan
	// BaseRef is the base reference to pull (mirror-rewritten, pinned).
	BaseRef string
	Epoch   time.Time
	Mirrors mirror.Rules
	// Prepared are the layer cache entries of the Prepared steps, in
	// Layers, the layer cache (whose directory is the local source's root).
	Prepared map[*builder.Step]*cache.Entry
	Layers   *cache.Cache
	// DaemonFetch lets buildkitd fetch pinned file artifacts (Download).
	DaemonFetch bool
}

// vertexName is the custom name of a vertex: "rtbuild [SCOPE] WHAT", where
// SCOPE is the arch, or the runtime and arch for vertices of one runtime's
// image; without a scope ("rtbuild WHAT") the vertex is the same for every
// platform. BuildKit prints it in its progress and errors. Identical
// vertices (the same component for two runtimes) are one vertex in
// BuildKit, so a component's name does not name the runtime; rtbuild maps
// vertices back by digest.
func vertexName(scope, what string) string {
	if scope == "" {
		return "rtbuild " + what
	}
	return fmt.Sprintf("rtbuild [%s] %s", scope, what)
}

func componentLabel(step *builder.Step) string {
	if v := step.Component.Version; v != "" {
		return step.ComponentKey + " " + v
	}
	return step.ComponentKey
}

// emptyTarDiffID is the diffID of a tar without entries (its two zero blocks).
var emptyTarDiffID = func() string {
	s := sha256.Sum256(make([]byte, 1024))
	return "sha256:" + hex.EncodeToString(s[:])
}()

// lower turns one platform of the plan into LLB: the base image, one vertex
// per component (an empty file system with that component's files, so its
// layer is exactly the component's), merged in layer order. Every vertex is
// named after what it builds.
func lower(in lowerInput) (*lowered, error) {
	rt, pp := in.Runtime.Identifier, in.PP
	p := platformOf(pp.Arch)
	out := &lowered{Platform: p, Vertices: map[string]VertexInfo{}}
	arch := string(pp.Arch)
	named := func(scope string, info VertexInfo, what string) (string, llb.ConstraintsOpt) {
		n := vertexName(scope, what)
		info.Runtime = rt
		if scope != "" {
			info.Arch = pp.Arch
		}
		out.Vertices[n] = info
		return n, llb.WithCustomName(n)
	}
	name := func(info VertexInfo, what string) llb.ConstraintsOpt {
		_, opt := named(arch, info, what)
		return opt
	}
	epoch := in.Epoch.UTC()

	base := llb.Image(in.BaseRef, llb.Platform(p), name(VertexInfo{Role: RoleBase}, "base "+pp.BaseRef))
	states := []llb.State{base}

	// The prepared blobs first: they are the local source's include patterns.
	blobs := map[*builder.Step]string{}
	for _, step := range pp.Steps {
		if loweringOf(step, in.DaemonFetch) != Prepared {
			continue
		}
		e := in.Prepared[step]
		if e == nil || in.Layers == nil {
			return nil, fmt.Errorf("%s (%s): component %s: layer not prepared", rt, pp.Arch, step.ComponentKey)
		}
		if e.DiffID.String() == emptyTarDiffID {
			return nil, fmt.Errorf("%s (%s): component %s: its layer is empty, which the BuildKit backend cannot represent (an empty file system adds no layer)", rt, pp.Arch, step.ComponentKey)
		}
		rel, err := filepath.Rel(in.Layers.Dir(), in.Layers.BlobPath(e))
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("%s (%s): component %s: layer blob outside the layer cache", rt, pp.Arch, step.ComponentKey)
		}
		blobs[step] = filepath.ToSlash(rel)
		out.Blobs = append(out.Blobs, blobs[step])
	}
	var local llb.State
	if len(out.Blobs) > 0 {
		local = llb.Local(LocalName, llb.SharedKeyHint(LocalName), llb.IncludePatterns(out.Blobs),
			name(VertexInfo{Role: RoleLayers}, "prepared layers"))
	}

	for _, step := range pp.Steps {
		comp := step.Component
		info := VertexInfo{Role: RoleComponent, Component: step.ComponentKey, Version: comp.Version}
		label := componentLabel(step)
		var st llb.State
		var vname string
		switch loweringOf(step, in.DaemonFetch) {
		case Inline:
			// The content is a vertex of its own (a file op is not platform
			// specific: the same content is one vertex for every platform,
			// named without one), which the component vertex copies in, so
			// that every component vertex has an input and BuildKit reports
			// it cached when it did not run.
			file := path.Base(comp.Path)
			_, copt := named("", VertexInfo{Role: RoleContent, Component: step.ComponentKey, Version: comp.Version}, label+": content")
			content := llb.Scratch().File(llb.Mkfile("/"+file, step.FileMode(), step.Content, llb.WithCreatedTime(epoch)), copt)
			n, opt := named("", info, label)
			st, vname = llb.Scratch().File(llb.Copy(content, "/"+file, comp.Path, &llb.CopyInfo{
				CreateDestPath: true,
				CreatedTime:    &epoch,
			}), opt), n
		case Download:
			src := step.Sources[0]
			file := path.Base(comp.Path)
			dl := llb.HTTP(in.Mirrors.Rewrite(src.URL),
				llb.Checksum(digest.NewDigestFromEncoded(digest.SHA256, src.SHA256)),
				llb.Filename(file), llb.Chmod(step.FileMode()),
				name(VertexInfo{Role: RoleDownload, Component: step.ComponentKey, Version: comp.Version, URL: src.URL}, label+": download "+src.URL))
			n, opt := named(arch, info, label)
			st, vname = llb.Scratch().File(llb.Copy(dl, "/"+file, comp.Path, &llb.CopyInfo{
				CreateDestPath: true,
				CreatedTime:    &epoch,
			}), opt), n
		default:
			n, opt := named(arch, info, label)
			st, vname = llb.Scratch().File(llb.Copy(local, "/"+blobs[step], "/", &llb.CopyInfo{
				AttemptUnpack: true,
				CreatedTime:   &epoch,
			}), opt), n
		}
		out.Components = append(out.Components, vname)
		states = append(states, st)
	}
	_, opt := named(rt+" "+arch, VertexInfo{Role: RoleImage}, "image")
	out.State = llb.Merge(states, opt)
	return out, nil
}
