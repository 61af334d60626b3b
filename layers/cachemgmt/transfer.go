package cachemgmt

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/rtbuild/rtbuild/layers/atomicfile"
)

// exportMarker is the first member of an export: it names the format.
const exportMarker = "rtbuild-cache-export.json"

// exportHeader is the content of exportMarker.
type exportHeader struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	Files   int       `json:"files"`
}

// Export-able paths, relative to the cache directory. Blobs are named by
// their sha256 and verified on import; the small files that name them are
// imported after the blobs and only when the blob they name is present.
var (
	blobPath    = regexp.MustCompile(`^(downloads/sha256|layers/blobs/sha256|bases/blobs/sha256|metadata/sha256)/[0-9a-f]{64}$`)
	urlPath     = regexp.MustCompile(`^downloads/urls/[0-9a-f]{64}$`)
	keyPath     = regexp.MustCompile(`^layers/keys/[0-9a-f]{64}(\+zstd)?\.json$`)
	basesLayout = map[string]bool{"bases/index.json": true, "bases/oci-layout": true}
)

// TransferStats count what an export or import moved.
type TransferStats struct {
	Files   int   `json:"files"`
	Bytes   int64 `json:"bytes"`
	Skipped int   `json:"skipped"` // import: already present
}

// Export writes the cache directory's downloads, layers (gzip and zstd),
// base metadata and saved bases as
// a tar to file, atomically (a temporary file renamed when complete).
// Writes in progress (tmp/) are left out.
func Export(dir, file string) (TransferStats, error) {
	var st TransferStats
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if blobPath.MatchString(rel) || urlPath.MatchString(rel) || keyPath.MatchString(rel) || basesLayout[rel] {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("cache export: reading %s: %w", dir, err)
	}
	// Blobs first, then what names them, then the bases' index.
	rank := func(n string) int {
		switch {
		case blobPath.MatchString(n):
			return 0
		case basesLayout[n]:
			return 2
		}
		return 1
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	abs, err := filepath.Abs(file)
	if err != nil {
		return st, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp-*")
	if err != nil {
		return st, fmt.Errorf("cache export: %w", err)
	}
	defer os.Remove(tmp.Name())
	tw := tar.NewWriter(tmp)
	hdr, _ := json.Marshal(exportHeader{Format: 1, Created: time.Now().UTC(), Files: len(names)})
	if err := writeMember(tw, exportMarker, bytes.NewReader(hdr), int64(len(hdr))); err != nil {
		tmp.Close()
		return st, fmt.Errorf("cache export: %w", err)
	}
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned meanwhile
			}
			tmp.Close()
			return st, fmt.Errorf("cache export: %w", err)
		}
		fi, err := f.Stat()
		if err == nil {
			err = writeMember(tw, n, f, fi.Size())
		}
		f.Close()
		if err != nil {
			tmp.Close()
			return st, fmt.Errorf("cache export: %s: %w", n, err)
		}
		st.Files++
		st.Bytes += fi.Size()
	}
	if err := tw.Close(); err != nil {
		tmp.Close()
		return st, fmt.Errorf("cache export: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return st, fmt.Errorf("cache export: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return st, fmt.Errorf("cache export: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return st, err
	}
	if err := os.Rename(tmp.Name(), abs); err != nil {
		return st, fmt.Errorf("cache export: %w", err)
	}
	return st, nil
}

func writeMember(tw *tar.Writer, name string, r io.Reader, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err := io.CopyN(tw, r, size)
	return err
}

// Import reads an export made by Export into the cache directory dir.
// Every blob is verified against its name before it is renamed into
// place; a key or URL file is written only when the blob it names is
// present; the bases' index is merged with the one already there. A member
// Export would not write is refused and stops the import; what was
// imported before it is complete and valid.
func Import(dir, file string) (TransferStats, error) {
	var st TransferStats
	f, err := os.Open(file)
	if err != nil {
		return st, fmt.Errorf("cache import: %w", err)
	}
	defer f.Close()
	tmpDir := filepath.Join(dir, "import-tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return st, fmt.Errorf("cache import: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tr := tar.NewReader(f)
	first := true
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("cache import %s: %w", file, err)
		}
		fail := func(err error) (TransferStats, error) {
			return st, fmt.Errorf("cache import %s: %s: %w", file, h.Name, err)
		}
		if first {
			first = false
			if h.Name != exportMarker {
				return fail(errors.New("not an rtbuild cache export (made by `rtbuild cache export`)"))
			}
			var eh exportHeader
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&eh); err != nil || eh.Format != 1 {
				return fail(fmt.Errorf("unsupported export format (want 1)"))
			}
			continue
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || name != h.Name {
			return fail(errors.New("not a member an rtbuild cache export holds"))
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch {
		case blobPath.MatchString(name):
			if _, err := os.Stat(dst); err == nil {
				st.Skipped++
				continue
			}
			if err := importBlob(tr, tmpDir, dst, path.Base(name)); err != nil {
				return fail(err)
			}
		case urlPath.MatchString(name):
			b, err := io.ReadAll(io.LimitReader(tr, 1024))
			if err != nil {
				return fail(err)
			}
			d := strings.TrimSpace(string(b))
			if !isHex64(d) {
				return fail(errors.New("not a sha256 digest"))
			}
			if _, err := os.Stat(filepath.Join(dir, "downloads", "sha256", d)); err != nil {
				st.Skipped++
				continue
			}
			if err := atomicfile.Write(dst, b, 0o644); err != nil {
				return fail(err)
			}
		case keyPath.MatchString(name):
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return fail(err)
			}
			var k struct {
				Digest string `json:"digest"`
			}
			if err := json.Unmarshal(b, &k); err != nil || !strings.HasPrefix(k.Digest, "sha256:") || !isHex64(strings.TrimPrefix(k.Digest, "sha256:")) {
				return fail(errors.New("not a layer cache key file"))
			}
			if _, err := os.Stat(filepath.Join(dir, "layers", "blobs", "sha256", strings.TrimPrefix(k.Digest, "sha256:"))); err != nil {
				st.Skipped++
				continue
			}
			if err := atomicfile.Write(dst, b, 0o644); err != nil {
				return fail(err)
			}
		case name == "bases/oci-layout":
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return fail(err)
			}
			if _, err := os.Stat(dst); err != nil {
				if err := atomicfile.Write(dst, b, 0o644); err != nil {
					return fail(err)
				}
			}
		case name == "bases/index.json":
			b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return fail(err)
			}
			if err := mergeIndex(dst, b); err != nil {
				return fail(err)
			}
		default:
			return fail(errors.New("not a member an rtbuild cache export holds"))
		}
		st.Files++
		st.Bytes += h.Size
	}
	if first {
		return st, fmt.Errorf("cache import %s: empty file, not an rtbuild cache export", file)
	}
	return st, nil
}

// importBlob copies r to a temporary file, checks its sha256 against want
// and renames it to dst.
func importBlob(r io.Reader, tmpDir, dst, want string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(tmpDir, "blob-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		tmp.Close()
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		tmp.Close()
		return fmt.Errorf("content has sha256 %s, not the %s its name says: the export is corrupt", got, want)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// mergeIndex merges the manifests of an OCI index.json into dst's: an
// entry of the same ref name is replaced, others are appended. Entries
// whose manifest blob is missing are refused.
func mergeIndex(dst string, b []byte) error {
	type index struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType,omitempty"`
		Manifests     []json.RawMessage `json:"manifests"`
	}
	type desc struct {
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
	}
	var in index
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("not an OCI index: %w", err)
	}
	var cur index
	if old, err := os.ReadFile(dst); err == nil {
		if err := json.Unmarshal(old, &cur); err != nil {
			return fmt.Errorf("the cache's bases/index.json is not an OCI index: %w", err)
		}
	} else {
		cur = index{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json"}
	}
	const refName = "org.opencontainers.image.ref.name"
	for _, m := range in.Manifests {
		var d desc
		if err := json.Unmarshal(m, &d); err != nil || !strings.HasPrefix(d.Digest, "sha256:") || !isHex64(strings.TrimPrefix(d.Digest, "sha256:")) {
			return errors.New("an index entry without a sha256 digest")
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "blobs", "sha256", strings.TrimPrefix(d.Digest, "sha256:"))); err != nil {
			return fmt.Errorf("index entry %s: its manifest is not in the export", d.Digest)
		}
		replaced := false
		for i, c := range cur.Manifests {
			var cd desc
			if json.Unmarshal(c, &cd) == nil && cd.Annotations[refName] != "" && cd.Annotations[refName] == d.Annotations[refName] {
				cur.Manifests[i], replaced = m, true
			}
		}
		if !replaced {
			cur.Manifests = append(cur.Manifests, m)
		}
	}
	out, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	return atomicfile.Write(dst, out, 0o644)
}
