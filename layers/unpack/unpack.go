// Package unpack streams archives (tar, tar.gz, tar.xz, zip) into a
// deterministic tar: leading components stripped, entries placed under a
// destination directory, modes kept, owners normalised to 0:0, mtimes
// clamped, and unsafe entries refused with the artifact and entry named.
package unpack

// Contract:
//
//   type Options struct {
//       Format string    // tar, tar.gz, tar.xz, zip, gem, raw ("" = DetectFormat(name))
//       Subdir string    // after stripping, keep only entries below this relative dir (and drop it)
//       Strip  int
//       Dest   string    // absolute directory in the image, e.g. /var/lang
//       Epoch  time.Time // mtimes are clamped to this (SOURCE_DATE_EPOCH)
//       Name   string    // artifact name for error messages (its URL)
//   }
//   func DetectFormat(name string) (string, error)
//   // Archive reads the archive at path and writes a tar stream to w: first
//   // the parent directories of Dest (0755, root), then the entries in archive
//   // order. Entries whose path is empty after stripping are dropped.
//   func Archive(path string, w io.Writer, o Options) error
//   // File writes a tar holding one regular file (and its parent directories).
//   func File(w io.Writer, path string, mode os.FileMode, content io.Reader, size int64, epoch time.Time) error
//
//   // Several archives go into one layer: a Writer keeps the tar stream open
//   // across calls, writes each directory once, and rejects (error naming both
//   // artifacts) a path written twice with different content... or simpler:
//   // later entries win is NOT allowed in a tar (duplicates), so:
//   type Writer struct{ ... }
//   func NewWriter(w io.Writer, epoch time.Time) *Writer
//   func (w *Writer) AddArchive(path string, o Options) error
//   func (w *Writer) AddFile(path string, mode os.FileMode, content io.Reader, size int64) error
//   func (w *Writer) Close() error // flushes the tar trailer
