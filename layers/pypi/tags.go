package pypi

// Wheel file names and compatibility tags (PEP 425, PEP 427, PEP 600),
// ordered like packaging.tags.sys_tags for a CPython on glibc Linux: the
// interpreter's own ABI first, then abi3, then none, then the pure-Python
// tags; within each, the newest manylinux first. linux_* and musllinux_*
// wheels are never compatible: they are not portable to Amazon Linux.

import (
	"fmt"
	"strconv"
	"strings"
)

// Env is the target interpreter and platform.
type Env struct {
	// Python is "3.9" or a full "3.9.16" (python_full_version markers and
	// Requires-Python see "3.9.0" when only major.minor is given).
	Python string
	// Arch is "x86_64" or "arm64" ("amd64" and "aarch64" are accepted).
	Arch string
	// Implementation is the interpreter tag prefix: "cp" (default).
	Implementation string
	// Glibc is the image's glibc, which bounds manylinux tags: "2.26"
	// (default, Amazon Linux 2); "2.34" for Amazon Linux 2023.
	Glibc string
	// Exclude are projects not resolved here: another component provides
	// them (e.g. an sdist-only dependency installed some other way).
	Exclude []string
}

// env is Env validated and expanded.
type env struct {
	major, minor int
	full         string // "3.9.0"
	impl         string
	machine      string // x86_64, aarch64
	glibcMinor   int
	tags         map[string]int // "cp39-cp39-manylinux_2_17_x86_64" -> priority (lower is better)
	exclude      map[string]bool
}

func (e Env) expand() (*env, error) {
	out := &env{impl: e.Implementation, exclude: map[string]bool{}}
	for _, x := range e.Exclude {
		out.exclude[Normalize(x)] = true
	}
	if out.impl == "" {
		out.impl = "cp"
	}
	parts := strings.Split(e.Python, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("python version %q: want MAJOR.MINOR (3.9) or MAJOR.MINOR.PATCH", e.Python)
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("python version %q: want MAJOR.MINOR (3.9) or MAJOR.MINOR.PATCH", e.Python)
		}
		nums[i] = n
	}
	out.major, out.minor = nums[0], nums[1]
	out.full = e.Python
	if len(parts) == 2 {
		out.full += ".0"
	}
	switch e.Arch {
	case "x86_64", "amd64":
		out.machine = "x86_64"
	case "arm64", "aarch64":
		out.machine = "aarch64"
	default:
		return nil, fmt.Errorf("arch %q: want x86_64 or arm64", e.Arch)
	}
	g := e.Glibc
	if g == "" {
		g = "2.26"
	}
	gmaj, gmin, ok := strings.Cut(g, ".")
	n, err := strconv.Atoi(gmin)
	if !ok || gmaj != "2" || err != nil {
		return nil, fmt.Errorf("glibc version %q: want 2.N", g)
	}
	out.glibcMinor = n
	out.tags = map[string]int{}
	for i, t := range out.sysTags() {
		if _, dup := out.tags[t]; !dup {
			out.tags[t] = i
		}
	}
	return out, nil
}

// String names the platform in messages: "cp39 on manylinux_2_26_aarch64".
func (e *env) String() string {
	return fmt.Sprintf("%s%d%d on manylinux_2_%d_%s (glibc 2.%d)", e.impl, e.major, e.minor, e.glibcMinor, e.machine, e.glibcMinor)
}

// platforms lists the compatible platform tags, best first.
func (e *env) platforms() []string {
	low := 5 // manylinux1 for x86_64
	if e.machine != "x86_64" {
		low = 17 // manylinux2014 is the first aarch64 one
	}
	var ps []string
	for m := e.glibcMinor; m >= low; m-- {
		ps = append(ps, fmt.Sprintf("manylinux_2_%d_%s", m, e.machine))
		switch m {
		case 17:
			ps = append(ps, "manylinux2014_"+e.machine)
		case 12:
			ps = append(ps, "manylinux2010_"+e.machine)
		case 5:
			ps = append(ps, "manylinux1_"+e.machine)
		}
	}
	return ps
}

// sysTags lists the compatible tags, best first.
func (e *env) sysTags() []string {
	plats := e.platforms()
	var tags []string
	add := func(py, abi string, ps ...string) {
		for _, p := range ps {
			tags = append(tags, py+"-"+abi+"-"+p)
		}
	}
	interp := fmt.Sprintf("%s%d%d", e.impl, e.major, e.minor)
	if e.impl == "cp" {
		abi := interp
		switch {
		case e.major == 2:
			abi += "mu" // Amazon Linux's Python 2 is a UCS-4 build
		case e.major == 3 && e.minor <= 7:
			abi += "m"
		}
		add(interp, abi, plats...)
		if e.major == 3 && e.minor >= 2 {
			add(interp, "abi3", plats...)
		}
		add(interp, "none", plats...)
		if e.major == 3 {
			for m := e.minor - 1; m >= 2; m-- {
				add(fmt.Sprintf("cp3%d", m), "abi3", plats...)
			}
		}
	} else {
		add(interp, "none", plats...)
	}
	pys := []string{fmt.Sprintf("py%d%d", e.major, e.minor), fmt.Sprintf("py%d", e.major)}
	for m := e.minor - 1; m >= 0; m-- {
		pys = append(pys, fmt.Sprintf("py%d%d", e.major, m))
	}
	for _, py := range pys {
		add(py, "none", plats...)
	}
	add(interp, "none", "any")
	for _, py := range pys {
		add(py, "none", "any")
	}
	return tags
}

// wheelName is a parsed wheel file name.
type wheelName struct {
	name, version, build string
	tags                 []string // expanded "py-abi-plat"
}

// parseWheelName parses NAME-VER(-BUILD)?-PY-ABI-PLAT.whl.
func parseWheelName(filename string) (wheelName, error) {
	base, ok := strings.CutSuffix(filename, ".whl")
	if !ok {
		return wheelName{}, fmt.Errorf("%s: not a wheel file name", filename)
	}
	p := strings.Split(base, "-")
	if len(p) != 5 && len(p) != 6 {
		return wheelName{}, fmt.Errorf("%s: not a NAME-VERSION(-BUILD)-PY-ABI-PLATFORM.whl wheel file name", filename)
	}
	w := wheelName{name: p[0], version: p[1]}
	if len(p) == 6 {
		w.build = p[2]
	}
	n := len(p)
	for _, py := range strings.Split(p[n-3], ".") {
		for _, abi := range strings.Split(p[n-2], ".") {
			for _, plat := range strings.Split(p[n-1], ".") {
				w.tags = append(w.tags, strings.ToLower(py+"-"+abi+"-"+plat))
			}
		}
	}
	return w, nil
}

// priority is the wheel's best tag's rank in env (lower is better), or -1
// when no tag is compatible.
func (e *env) priority(w wheelName) int {
	best := -1
	for _, t := range w.tags {
		if p, ok := e.tags[t]; ok && (best < 0 || p < best) {
			best = p
		}
	}
	return best
}

// markers is the PEP 508 marker environment of a Lambda image.
func (e *env) markers(extra string) map[string]string {
	implName, platImpl := "cpython", "CPython"
	switch e.impl {
	case "pp":
		implName, platImpl = "pypy", "PyPy"
	case "cp":
	default:
		implName, platImpl = e.impl, e.impl
	}
	return map[string]string{
		"python_version":                 fmt.Sprintf("%d.%d", e.major, e.minor),
		"python_full_version":            e.full,
		"os_name":                        "posix",
		"sys_platform":                   "linux",
		"platform_system":                "Linux",
		"platform_machine":               e.machine,
		"platform_release":               "",
		"platform_version":               "",
		"platform_python_implementation": platImpl,
		"implementation_name":            implName,
		"implementation_version":         e.full,
		"extra":                          extra,
	}
}
