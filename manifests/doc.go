// Package manifests assembles image configs, manifests and indexes, and
// writes the outputs: OCI image layouts, docker-archive tars and registry
// pushes (the index at REF, each architecture at REF-<arch>). It also pulls
// base images (registry, OCI layout, tarball) with mirror rewriting.
package manifests

// Contract:
//
//   // Registry options shared by pulls and pushes.
//   type RegistryOptions struct {
//       Mirrors  mirror.Rules
//       Insecure []string          // hosts allowed over plain HTTP (loopback always is)
//       Keychain authn.Keychain    // nil: authn.DefaultKeychain (Docker config + helpers)
//       Transport http.RoundTripper
//   }
//   // PullBase resolves ref for one platform: "REGISTRY/REPO[:TAG][@DIGEST]" (mirrors
//   // applied), "oci:DIR[:REF]" or "docker:FILE". The returned Base records the
//   // resolved digest (of the index or manifest the ref names) for annotations.
//   func PullBase(ctx context.Context, ref string, platform v1.Platform, o RegistryOptions) (*Base, error)
//   type Base struct { Ref string; Digest v1.Hash; Image v1.Image }
//
//   // LayerSpec is one layer to append with its history.
//   type LayerSpec struct { Layer v1.Layer; CreatedBy string; Comment string }
//   type ImageSpec struct {
//       Base        *Base
//       Layers      []LayerSpec
//       Env         []string; WorkingDir string; Entrypoint []string; Cmd []string
//       Labels      map[string]string
//       Annotations map[string]string // manifest annotations
//       Created     time.Time
//       Platform    v1.Platform
//   }
//   // NewImage appends the layers to the base, sets the config (Env replaces the
//   // base's values key by key; no Cmd/User unless given), history, created, and
//   // annotations; result is an OCI manifest (types.OCIManifestSchema1).
//   func NewImage(s ImageSpec) (v1.Image, error)
//   // NewIndex joins single-platform images into an OCI index with annotations.
//   func NewIndex(images []v1.Image, annotations map[string]string) (v1.ImageIndex, error)
//
//   // WriteOCILayout writes idx into DIR atomically (built next to DIR, then
//   // swapped in; the previous DIR stays intact until the new one is complete).
//   // index.json lists the index with ref.name=refName and each platform manifest
//   // with ref.name=refName-<lambda arch> (so umoci/skopeo can address each).
//   func WriteOCILayout(dir string, idx v1.ImageIndex, refName string) error
//   // WriteDockerArchive writes a docker-load-able tar atomically holding each image under its tag.
//   func WriteDockerArchive(file string, images []TaggedImage) error
//   type TaggedImage struct { Tag string; Image v1.Image }
//   // Push uploads every arch image to REF-<arch> then the index at REF; only
//   // missing blobs are uploaded. Returns what was written.
//   func Push(ctx context.Context, ref string, idx v1.ImageIndex, perArch map[string]v1.Image, o RegistryOptions) (*PushResult, error)
//   type PushResult struct { Index string /* REF@sha256 */; Arch map[string]string /* arch -> REF-arch@sha256 */ }
