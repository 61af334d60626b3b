// Package cache is the layer cache: compressed layer blobs stored under the
// sha256 of their recipe (the cache key). Writes go to a temporary file,
// are fsynced and renamed, so concurrent rtbuild processes and crashes never
// leave a corrupt entry; every read verifies the blob's size and digest, and
// a corrupt entry is discarded (reported as a miss), never served.
package cache

// Contract:
//
//   type Cache struct{ ... }
//   func Open(dir string) (*Cache, error)
//   type Entry struct {
//       Key       string
//       Digest    v1.Hash   // of the compressed blob
//       DiffID    v1.Hash   // of the uncompressed tar
//       Size      int64     // compressed size
//       MediaType types.MediaType // types.OCILayer (gzip)
//   }
//   // Get returns the verified entry for key, or ok=false (also when it was corrupt).
//   func (c *Cache) Get(key string) (e *Entry, ok bool, err error)
//   // Put runs write with a writer that takes the uncompressed tar stream; the
//   // cache compresses (gzip, fixed level, deterministic), hashes both forms in
//   // the same pass and commits the entry atomically. If write fails nothing is left.
//   func (c *Cache) Put(key string, write func(tarStream io.Writer) error) (*Entry, error)
//   // Layer returns a v1.Layer backed by the entry's blob (no recompression).
//   func (c *Cache) Layer(e *Entry) (v1.Layer, error)
