// Package manifests assembles image configs, manifests and indexes, and
// writes the outputs: OCI image layouts, docker-archive tars and registry
// pushes (the index at REF, each architecture at REF-<arch>). It also pulls
// base images (registry, OCI layout, docker-archive tar) with mirror
// rewriting.
//
// Files by job: registry.go (registry options, the plain-HTTP rule, error
// messages), base.go (PullBase), image.go (NewImage, NewIndex), layout.go
// (WriteOCILayout), dockerarchive.go (WriteDockerArchive), push.go (Push).
package manifests
