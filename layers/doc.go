// Package layers turns a component recipe and its inputs into one
// deterministic, content-addressed, cached image layer.
//
// Subpackages do one job each: mirror rewrites URL and registry prefixes,
// fetch is the verified download store, unpack streams archives into
// normalised tar entries, cache is the crash-safe layer cache. This package
// ties them together: Recipe -> cache key -> (hit) cached blob, or (miss)
// fetch -> unpack -> deterministic tar -> gzip -> cache.
package layers
