# Builds rtbuild itself into a small image, for use in CI systems: a static,
# trimmed binary (CGO_ENABLED=0, -trimpath, -s -w) as the entrypoint of a
# minimal base, running as a non-root user (65532), with RTBUILD_CACHE_DIR=/cache.
#
#   docker buildx build -t rtbuild .
#   buildctl build --frontend dockerfile.v0 --local context=. --local dockerfile=. \
#       --output type=image,name=REGISTRY/rtbuild,push=true
#
# No "syntax" line: BuildKit's built-in Dockerfile frontend builds it (RUN
# --mount included), so no frontend image is pulled. Cross builds run the Go
# toolchain natively and set GOOS/GOARCH (--platform linux/amd64,linux/arm64
# needs no emulation).
#
# Build arguments (all optional):
#   GO_IMAGE       the build stage: any image with the Go toolchain (1.26 or
#                  later) on PATH and /bin/sh. Default golang:1.26-bookworm.
#   RUNTIME_IMAGE  the base of the final image. Default
#                  gcr.io/distroless/static-debian12:nonroot; the binary is
#                  static, so scratch works too (but has no /tmp and no CA
#                  certificates, which rtbuild needs to build images).
#   VERSION        what `rtbuild version` prints. Default dev.
#   GOPROXY        the module proxy setting of the build (default: the Go
#                  toolchain's own), e.g. an internal module proxy.
#
# Named build context (optional):
#   goproxy        a directory laid out as a Go module proxy; a module cache's
#                  cache/download directory is one. Given, modules come only
#                  from it (GOPROXY=file:///goproxy, GOSUMDB=off: go.sum
#                  still verifies every module) and the build needs no network.
#
# An air-gapped build, from images mirrored to an internal registry and this
# machine's module cache (`go mod download` here first):
#
#   docker buildx build \
#       --build-arg GO_IMAGE=registry.internal/golang:1.26-bookworm \
#       --build-arg RUNTIME_IMAGE=registry.internal/distroless/static-debian12:nonroot \
#       --build-context goproxy="$(go env GOMODCACHE)/cache/download" -t rtbuild .
#   buildctl build --frontend dockerfile.v0 --local context=. --local dockerfile=. \
#       --opt build-arg:GO_IMAGE=... --opt build-arg:RUNTIME_IMAGE=... \
#       --local goproxy="$(go env GOMODCACHE)/cache/download" --opt context:goproxy=local:goproxy \
#       --opt force-network-mode=none --output type=oci,dest=rtbuild.tar
#
# The Go module and build caches are BuildKit cache mounts: a rebuild on the
# same builder compiles only what changed (until BuildKit's garbage collection
# prunes them; the modules then come from goproxy or GOPROXY again).

ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# Empty unless the goproxy named build context replaces it.
FROM scratch AS goproxy

# The modules (`--target modules` downloads them only).
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS modules
WORKDIR /src
ENV GOMODCACHE=/gomodcache GOCACHE=/gocache CGO_ENABLED=0 GOFLAGS=-trimpath
ARG GOPROXY
COPY go.mod go.sum ./
RUN --mount=type=bind,from=goproxy,target=/goproxy \
    --mount=type=cache,id=rtbuild-gomodcache,target=/gomodcache \
    if [ -n "$(ls -A /goproxy)" ]; then export GOPROXY=file:///goproxy GOSUMDB=off; fi; \
    go mod download

FROM modules AS build
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
RUN --mount=type=bind,from=goproxy,target=/goproxy \
    --mount=type=cache,id=rtbuild-gomodcache,target=/gomodcache \
    --mount=type=cache,id=rtbuild-gocache,target=/gocache \
    if [ -n "$(ls -A /goproxy)" ]; then export GOPROXY=file:///goproxy GOSUMDB=off; fi; \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/rtbuild ./cmd/rtbuild && \
    mkdir -p /out/cache

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/rtbuild /usr/local/bin/rtbuild
COPY --from=build --chown=65532:65532 /out/cache /cache
ENV RTBUILD_CACHE_DIR=/cache
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/rtbuild"]
