# Builds rtbuild itself into a small image, for use in CI systems.
#   docker buildx build -t rtbuild .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rtbuild ./cmd/rtbuild

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rtbuild /usr/local/bin/rtbuild
ENV RTBUILD_CACHE_DIR=/cache
ENTRYPOINT ["/usr/local/bin/rtbuild"]
