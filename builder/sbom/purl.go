package sbom

import (
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/package-url/packageurl-go"
)

// ArtifactPURL derives the package URL of an artifact from the shape of its
// URL's path, so that it holds for mirrors too: npm tarballs
// (/NAME/-/NAME-VERSION.tgz), Python wheels and sdists (/packages/...),
// RubyGems (/downloads/NAME-VERSION.gem), Maven jars
// (/maven2/GROUP/ARTIFACT/VERSION/ARTIFACT-VERSION.jar) and NuGet packages
// (/v3-flatcontainer/ID/VERSION/ID.VERSION.nupkg). Anything else is
// pkg:generic/NAME@VERSION?download_url=URL with name and version given.
func ArtifactPURL(rawURL, name, version string) string {
	if p, ok := ecosystemPURL(rawURL); ok {
		return p
	}
	return genericPURL(name, version, rawURL)
}

func genericPURL(name, version, downloadURL string) string {
	var q packageurl.Qualifiers
	if downloadURL != "" {
		q = packageurl.QualifiersFromMap(map[string]string{"download_url": downloadURL})
	}
	return packageurl.NewPackageURL(packageurl.TypeGeneric, "", name, version, q, "").ToString()
}

var (
	// NAME-VERSION where VERSION starts with a digit.
	nameVersionRE = regexp.MustCompile(`^(.+?)-(\d[^-]*)$`)
	// A wheel: {dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl.
	wheelRE = regexp.MustCompile(`^([^-]+)-([^-]+)-(?:\d[^-]*-)?[^-]+-[^-]+-[^-]+\.whl$`)
	sdistRE = regexp.MustCompile(`^(.+)-(\d[^-]*)\.(?:tar\.gz|tar\.bz2|zip)$`)
	// PEP 503 name normalization: runs of -, _ and . become one -.
	pypiSepRE = regexp.MustCompile(`[-_.]+`)
)

func ecosystemPURL(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	file := path.Base(u.Path)
	n := len(segs)
	purl := func(typ, ns, name, version string) (string, bool) {
		return packageurl.NewPackageURL(typ, ns, name, version, nil, "").ToString(), true
	}
	switch {
	case n >= 3 && segs[n-2] == "-" && strings.HasSuffix(file, ".tgz"):
		// npm: [@scope/]name/-/name-version.tgz
		name := segs[n-3]
		ns := ""
		if n >= 4 && strings.HasPrefix(segs[n-4], "@") {
			ns = segs[n-4]
		}
		if v, ok := strings.CutPrefix(strings.TrimSuffix(file, ".tgz"), name+"-"); ok && v != "" {
			return purl(packageurl.TypeNPM, ns, name, v)
		}
	case contains(segs, "packages") && strings.HasSuffix(file, ".whl"):
		if m := wheelRE.FindStringSubmatch(file); m != nil {
			return purl(packageurl.TypePyPi, "", pypiName(m[1]), m[2])
		}
	case contains(segs, "packages") && contains(segs, "source"):
		if m := sdistRE.FindStringSubmatch(file); m != nil {
			return purl(packageurl.TypePyPi, "", pypiName(m[1]), m[2])
		}
	case strings.HasSuffix(file, ".gem"):
		if m := nameVersionRE.FindStringSubmatch(strings.TrimSuffix(file, ".gem")); m != nil {
			return purl(packageurl.TypeGem, "", m[1], m[2])
		}
	case n >= 4 && strings.HasSuffix(file, ".jar"):
		// maven2/GROUP.../ARTIFACT/VERSION/ARTIFACT-VERSION[-CLASSIFIER].jar
		for i, s := range segs {
			if s != "maven2" || n-i < 5 {
				continue
			}
			artifact, version := segs[n-3], segs[n-2]
			if strings.HasPrefix(file, artifact+"-"+version) {
				return purl(packageurl.TypeMaven, strings.Join(segs[i+1:n-3], "."), artifact, version)
			}
		}
	case n >= 3 && strings.HasSuffix(file, ".nupkg"):
		// ID/VERSION/ID.VERSION.nupkg
		id, version := segs[n-3], segs[n-2]
		if strings.EqualFold(file, id+"."+version+".nupkg") {
			return purl(packageurl.TypeNuget, "", id, version)
		}
	}
	return "", false
}

// pypiName normalizes a distribution name as PEP 503 does.
func pypiName(s string) string {
	return strings.ToLower(pypiSepRE.ReplaceAllString(s, "-"))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// OCIPURL is the package URL of an image: pkg:oci/NAME@DIGEST with the
// repository (when ref is a registry reference), tag and architecture as
// qualifiers. NAME is the repository's last path component.
func OCIPURL(ref, digest, arch string) string {
	q := map[string]string{}
	if arch != "" {
		q["arch"] = arch
	}
	name := ref
	switch {
	case strings.HasPrefix(ref, "oci:"), strings.HasPrefix(ref, "docker:"), strings.HasPrefix(ref, "rtbuild:"):
		_, rest, _ := strings.Cut(ref, ":")
		name = path.Base(strings.SplitN(rest, ":", 2)[0])
	default:
		repo := ref
		if i := strings.Index(repo, "@"); i >= 0 {
			repo = repo[:i]
		}
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			q["tag"] = repo[i+1:]
			repo = repo[:i]
		}
		if repo != "" {
			q["repository_url"] = repo
		}
		name = path.Base(repo)
	}
	return ociPURL(name, digest, q)
}

func ociPURL(name, digest string, q map[string]string) string {
	for k, v := range q {
		if v == "" {
			delete(q, k)
		}
	}
	return packageurl.NewPackageURL(packageurl.TypeOCI, "", strings.ToLower(name), digest, packageurl.QualifiersFromMap(q), "").ToString()
}
