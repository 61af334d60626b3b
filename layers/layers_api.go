package layers

// Contract:
//
//   // FormatVersion is mixed into every cache key; bump it when layer bytes change.
//   const FormatVersion = "1"
//   type Recipe struct {
//       Component, Version, Kind string
//       Format string; Strip int; Dest string     // archive
//       Path string; Mode os.FileMode; Content []byte // file (Content nil when from Input)
//       Inputs []*fetch.Artifact                // the downloaded artifacts, in order (archive: all; file: at most one)
//       Subdir string                           // archive
//       Epoch time.Time
//   }
//   func (r Recipe) Key() string   // hex sha256 over the canonical recipe + input digest + content digest
//   // Build returns the cached layer for r, building it on a miss.
//   func Build(ctx context.Context, c *cache.Cache, r Recipe) (e *cache.Entry, hit bool, err error)
