// Package ghrelease pins a GitHub release asset from the digest GitHub
// publishes for it: the releases API answers each asset's "digest"
// ("sha256:<hex>") beside its "browser_download_url". The asset is downloaded
// and verified against that digest; an asset without one cannot be pinned
// from publisher metadata and is an error (assets uploaded before GitHub
// started computing digests have "digest": null).
package ghrelease

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// DefaultAPI is the public GitHub REST API root, used when api is empty.
const DefaultAPI = "https://api.github.com"

// Release is the part of a release the adapter reads.
type Release struct {
	TagName string  `json:"tag_name"`
	Assets  []Asset `json:"assets"`
}

// Asset is one file of a release.
type Asset struct {
	Name               string `json:"name"`
	BrowserDownloadURL string `json:"browser_download_url"`
	// Digest is "sha256:<hex>", or empty (JSON null) for assets GitHub has
	// no digest for.
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Lookup returns assetName of ownerRepo's release tag, downloaded, verified
// against GitHub's digest and pinned. api is the REST API root (empty:
// DefaultAPI; a GitHub Enterprise Server's is https://HOST/api/v3).
func Lookup(ctx context.Context, o resolve.Options, api, ownerRepo, tag, assetName string) (resolve.Artifact, error) {
	owner, repo, ok := strings.Cut(ownerRepo, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return resolve.Artifact{}, fmt.Errorf("github release: repository %q: want owner/name", ownerRepo)
	}
	if api == "" {
		api = DefaultAPI
	}
	relURL := strings.TrimRight(api, "/") + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) +
		"/releases/tags/" + url.PathEscape(tag)
	var rel Release
	if err := o.GetJSON(ctx, relURL, &rel); err != nil {
		if resolve.NotFound(err) {
			return resolve.Artifact{}, fmt.Errorf("github release %s %s: no such release (%w)", ownerRepo, tag, err)
		}
		return resolve.Artifact{}, fmt.Errorf("github release %s %s: %w", ownerRepo, tag, err)
	}
	var asset *Asset
	names := make([]string, 0, len(rel.Assets))
	for i := range rel.Assets {
		names = append(names, rel.Assets[i].Name)
		if rel.Assets[i].Name == assetName {
			asset = &rel.Assets[i]
		}
	}
	if asset == nil {
		sort.Strings(names)
		return resolve.Artifact{}, fmt.Errorf("github release %s %s has no asset %q (it has: %s)",
			ownerRepo, tag, assetName, strings.Join(names, ", "))
	}
	if asset.BrowserDownloadURL == "" {
		return resolve.Artifact{}, fmt.Errorf("github release %s %s: asset %q has no browser_download_url", ownerRepo, tag, assetName)
	}
	if asset.Digest == "" {
		return resolve.Artifact{}, fmt.Errorf("github release %s %s: asset %q has no digest, so it cannot be pinned from publisher metadata; "+
			"pin it from a checksum file the project publishes, or a catalog sha256 you verified yourself", ownerRepo, tag, assetName)
	}
	sum, err := o.Pin(ctx, asset.BrowserDownloadURL, asset.Digest)
	if err != nil {
		return resolve.Artifact{}, fmt.Errorf("github release %s %s asset %q: %w", ownerRepo, tag, assetName, err)
	}
	return resolve.Artifact{
		Name:    ownerRepo + "/" + assetName,
		Version: tag,
		URL:     asset.BrowserDownloadURL,
		SHA256:  sum,
		Digest:  asset.Digest,
	}, nil
}
