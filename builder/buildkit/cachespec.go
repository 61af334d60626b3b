package buildkit

import (
	"encoding/csv"
	"fmt"
	"strings"

	"github.com/moby/buildkit/client"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/manifests"
)

// CacheSpec is one --cache-to or --cache-from value, as buildx and buildctl
// take it: comma-separated KEY=VALUE pairs with a type
// ("type=registry,ref=REGISTRY/REPO:TAG,mode=max", "type=local,dest=DIR"),
// or a bare reference, short for type=registry,ref=REF. {runtime} in any
// value expands to the runtime being built.
type CacheSpec struct {
	Type  string
	Attrs map[string]string
}

// ParseCacheSpec parses a cache spec; export says it is a --cache-to
// (whose mode defaults to min, as in BuildKit).
func ParseCacheSpec(s string, export bool) (CacheSpec, error) {
	flag := "--cache-from"
	if export {
		flag = "--cache-to"
	}
	fail := func(format string, args ...any) (CacheSpec, error) {
		return CacheSpec{}, &builder.UsageError{Msg: fmt.Sprintf("invalid %s %q: %s", flag, s, fmt.Sprintf(format, args...))}
	}
	spec := CacheSpec{Attrs: map[string]string{}}
	if strings.TrimSpace(s) == "" {
		return fail("empty; want type=registry,ref=REGISTRY/REPO:TAG[,mode=max] (see docs/buildkit.md)")
	}
	if !strings.Contains(s, "=") {
		spec.Type, spec.Attrs["ref"] = "registry", s
	} else {
		r := csv.NewReader(strings.NewReader(s))
		fields, err := r.Read()
		if err != nil {
			return fail("%v", err)
		}
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return fail("%q is not KEY=VALUE", f)
			}
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "type" {
				spec.Type = v
				continue
			}
			spec.Attrs[k] = v
		}
	}
	switch spec.Type {
	case "":
		return fail("no type=: want type=registry,ref=REGISTRY/REPO:TAG (or another BuildKit cache type: local, inline, s3, azblob, gha)")
	case "registry":
		if spec.Attrs["ref"] == "" {
			return fail("type=registry needs ref=REGISTRY/REPO:TAG")
		}
	case "local":
		key := "src"
		if export {
			key = "dest"
		}
		if spec.Attrs[key] == "" {
			return fail("type=local needs %s=DIR", key)
		}
	}
	if m, ok := spec.Attrs["mode"]; ok && m != "min" && m != "max" {
		return fail("mode=%s: want mode=min or mode=max", m)
	}
	if export && spec.Attrs["mode"] == "" && spec.Type != "inline" {
		spec.Attrs["mode"] = "min"
	}
	return spec, nil
}

// hasRuntime reports whether a value of the spec names {runtime}.
func (c CacheSpec) hasRuntime() bool {
	for _, v := range c.Attrs {
		if strings.Contains(v, "{runtime}") {
			return true
		}
	}
	return false
}

// entry returns BuildKit's form of the spec for runtime id: {runtime}
// expanded and, for a registry rtbuild may use over plain HTTP (loopback,
// --insecure-registry), registry.insecure=true unless the spec says otherwise.
func (c CacheSpec) entry(id string, reg manifests.RegistryOptions) client.CacheOptionsEntry {
	e := client.CacheOptionsEntry{Type: c.Type, Attrs: map[string]string{}}
	for k, v := range c.Attrs {
		e.Attrs[k] = strings.ReplaceAll(v, "{runtime}", id)
	}
	if c.Type == "registry" {
		if _, set := e.Attrs["registry.insecure"]; !set && reg.PlainHTTPAllowed(registryHost(e.Attrs["ref"])) {
			e.Attrs["registry.insecure"] = "true"
		}
	}
	return e
}

// registryHost returns the registry host of a reference ("docker.io" when
// it names none).
func registryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return "docker.io"
	}
	return first
}
