package builder

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rtbuild/rtbuild/manifests"
)

// BasesDir is where `rtbuild fetch` saves base images inside a cache
// directory (an OCI layout whose entries are named by base reference).
func BasesDir(cacheDir string) string { return filepath.Join(cacheDir, "bases") }

// MetadataDir is where a build keeps the manifests and configs of bases
// pinned by digest (manifests.RegistryOptions.MetadataDir), so that a
// rebuild makes no registry request for its bases.
func MetadataDir(cacheDir string) string { return filepath.Join(cacheDir, "metadata") }

// FetchResult says what Fetch stored.
type FetchResult struct {
	Artifacts       int      `json:"artifacts"`
	BytesDownloaded int64    `json:"bytesDownloaded"`
	Bases           []string `json:"bases"` // REF@DIGEST of each base saved
}

// Fetch fills the cache for an offline build of plan: every artifact of
// every step into the download store (verified against its pin), and every
// registry base, with all its platforms, into BasesDir. Bases given as oci:
// or docker: files are local already and skipped.
func Fetch(ctx context.Context, plan *Plan, opts Options) (*FetchResult, error) {
	if opts.Reporter == nil {
		opts.Reporter = NopReporter{}
	}
	lb, err := NewLayerBuilder(plan, LayerOptions{CacheDir: opts.CacheDir, Mirrors: opts.Registry.Mirrors, HTTPClient: opts.HTTPClient, Jobs: opts.Jobs})
	if err != nil {
		return nil, err
	}
	res := &FetchResult{}
	seenURL := map[string]bool{}
	seenBase := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	if opts.Jobs > 0 {
		g.SetLimit(opts.Jobs)
	} else {
		g.SetLimit(FetchJobs)
	}
	var downloaded atomic.Int64
	var bases []string
	for _, rp := range plan.Runtimes {
		for _, pp := range rp.Platforms {
			if ref := pp.BaseRef; !seenBase[ref] && !strings.HasPrefix(ref, "oci:") && !strings.HasPrefix(ref, "docker:") {
				seenBase[ref] = true
				bases = append(bases, ref)
			}
			for _, step := range pp.Steps {
				for _, s := range step.Sources {
					if seenURL[s.URL] {
						continue
					}
					seenURL[s.URL] = true
					res.Artifacts++
					g.Go(func() error {
						opts.Reporter.Report(Event{Time: time.Now(), Runtime: rp.Runtime.Identifier, Arch: string(pp.Arch), Component: step.ComponentKey, Version: step.Component.Version, Status: "downloading", Message: s.URL})
						a, err := lb.Store().Fetch(gctx, s.URL, s.SHA256)
						if err != nil {
							return err
						}
						if a.Warning != "" {
							opts.Reporter.Report(Event{Time: time.Now(), Status: "warning", Message: a.Warning})
						}
						opts.Reporter.Report(Event{Time: time.Now(), Runtime: rp.Runtime.Identifier, Arch: string(pp.Arch), Component: step.ComponentKey, Version: step.Component.Version, Status: "downloaded", Bytes: a.Downloaded, Message: s.URL})
						downloaded.Add(a.Downloaded)
						return nil
					})
				}
			}
		}
	}
	digests := make([]string, len(bases))
	for i, ref := range bases {
		g.Go(func() error {
			opts.Reporter.Report(Event{Time: time.Now(), Component: "base", Status: "downloading", Message: ref})
			d, err := manifests.SaveBase(gctx, BasesDir(opts.CacheDir), ref, opts.Registry)
			if err != nil {
				return err
			}
			digests[i] = d.String()
			opts.Reporter.Report(Event{Time: time.Now(), Component: "base", Status: "downloaded", Message: ref + "@" + d.String()})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res.BytesDownloaded = downloaded.Load()
	for i, ref := range bases {
		res.Bases = append(res.Bases, ref+"@"+digests[i])
	}
	return res, nil
}
