// Package buildkit is rtbuild's second executor: it lowers the same
// builder.Plan the native executor runs to BuildKit's LLB and solves it on
// a buildkitd (local, remote over TLS, or a buildx/Kubernetes fleet), with
// BuildKit's cache (its own state, and --cache-from / --cache-to registry
// caches) in place of rtbuild's layer cache.
//
// # Lowering
//
// Each platform of a runtime becomes one LLB graph:
//
//	llb.Merge(
//	  llb.Image(base@digest, platform),          // the base, mirror-rewritten, pinned
//	  scratch + component 1,                      // one vertex per component:
//	  scratch + component 2,                      //   an empty file system holding
//	  ...                                         //   only that component's files
//	)
//
// Merge keeps each input's layers, so the image has the base's layers (same
// blobs) and exactly one layer per component, as the native image does, and
// BuildKit caches each component on its own. Every vertex is named
// "[RUNTIME ARCH] COMPONENT VERSION" so that BuildKit's progress and errors
// name the component, and rtbuild maps the status stream back to it.
//
// A component's vertex is one of three (see Lowering):
//
//   - Prepared (archives, and anything else): rtbuild builds the layer with
//     its own code into its layer cache, exactly as the native executor does
//     (strip, subdir and dest mapping, format detection, owners 0:0, clamped
//     mtimes, unsafe entries refused), and the vertex unpacks that blob,
//     sent from the layer cache directory as an llb.Local source, with a
//     copy-unpack into scratch. BuildKit's copy-unpack cannot strip, select
//     a subdirectory or read zip/gem formats, so upstream archives are never
//     handed to it raw; their prepared tar it unpacks faithfully (modes,
//     owners, links, mtimes from the tar). Its cache key is the blob's
//     content checksum (owners are sent as 0:0), the same on every machine,
//     so a registry cache written by one client serves every other.
//   - Download (file components with one pinned artifact): buildkitd fetches
//     the file itself with llb.HTTP and its sha256 as checksum (the mirror
//     rules applied to the URL), names it and sets its mode; the vertex
//     copies it to its path. Nothing goes through the client. With Offline
//     these are Prepared too.
//   - Inline (builtin and inline file content): llb.Mkfile in the definition.
//
// The image config is rtbuild's (manifests.Config, the same function the
// native executor's images get theirs from), computed from the base config
// BuildKit resolves, and passed to the exporter per platform
// (containerimage.config/<platform>, with the base's config so that base
// layers keep their timestamps); the annotations are the native ones. The
// platforms are returned from one gateway build function as refs with the
// refs.platforms metadata, which BuildKit exports as an index.
//
// # Outputs
//
// A push is BuildKit's image exporter, by digest (push-by-digest: blobs,
// manifests and the index, no tag); rtbuild then writes the tags as the
// native executor does, with go-containerregistry (manifests.Push: every
// blob is already there): each platform's manifest at REF-<arch> first, the
// index at REF last. OCI layouts and docker archives are written by
// rtbuild's manifests package from BuildKit's OCI exporter output (the same
// blobs and digests), so they have the native executor's names and
// atomicity; BuildKit's docker exporter cannot hold several platforms.
//
// # Differences from native images
//
// The file system content per platform is the same: every path, mode,
// owner, link target and file content. The layer bytes of rtbuild's
// components differ: BuildKit writes each layer's tar from its snapshot
// (its own header format and entry order) and compresses it with its own
// gzip, so component layer digests (and so manifest and index digests)
// differ from the native ones. Base layers are the same blobs.
package buildkit
