package rpm

import (
	"strings"
	"testing"
)

// rpm's own cases, from rpm's tests/rpmvercmp.at (a, b, rpmvercmp(a, b)).
const rpmvercmpCases = `
1.0 1.0 0
1.0 2.0 -1
2.0 1.0 1
2.0.1 2.0.1 0
2.0 2.0.1 -1
2.0.1 2.0 1
2.0.1a 2.0.1a 0
2.0.1a 2.0.1 1
2.0.1 2.0.1a -1
5.5p1 5.5p1 0
5.5p1 5.5p2 -1
5.5p2 5.5p1 1
5.5p10 5.5p10 0
5.5p1 5.5p10 -1
5.5p10 5.5p1 1
10xyz 10.1xyz -1
10.1xyz 10xyz 1
xyz10 xyz10 0
xyz10 xyz10.1 -1
xyz10.1 xyz10 1
xyz.4 xyz.4 0
xyz.4 8 -1
8 xyz.4 1
xyz.4 2 -1
2 xyz.4 1
5.5p2 5.6p1 -1
5.6p1 5.5p2 1
5.6p1 6.5p1 -1
6.5p1 5.6p1 1
6.0.rc1 6.0 1
6.0 6.0.rc1 -1
10b2 10a1 1
10a2 10b2 -1
1.0aa 1.0aa 0
1.0a 1.0aa -1
1.0aa 1.0a 1
10.0001 10.0001 0
10.0001 10.1 0
10.1 10.0001 0
10.0001 10.0039 -1
10.0039 10.0001 1
4.999.9 5.0 -1
5.0 4.999.9 1
20101121 20101121 0
20101121 20101122 -1
20101122 20101121 1
2_0 2_0 0
2.0 2_0 0
2_0 2.0 0
a a 0
a+ a+ 0
a+ a_ 0
a_ a+ 0
+a +a 0
+a _a 0
_a +a 0
+_ +_ 0
_+ +_ 0
_+ _ 0
+ _ 0
_ + 0
1.0~rc1 1.0~rc1 0
1.0~rc1 1.0 -1
1.0 1.0~rc1 1
1.0~rc1 1.0~rc2 -1
1.0~rc2 1.0~rc1 1
1.0~rc1~git123 1.0~rc1~git123 0
1.0~rc1~git123 1.0~rc1 -1
1.0~rc1 1.0~rc1~git123 1
1.0^ 1.0^ 0
1.0^ 1.0 1
1.0 1.0^ -1
1.0^git1 1.0^git1 0
1.0^git1 1.0 1
1.0 1.0^git1 -1
1.0^git1 1.0^git2 -1
1.0^git2 1.0^git1 1
1.0^git1 1.01 -1
1.01 1.0^git1 1
1.0^20160101 1.0^20160101 0
1.0^20160101 1.0.1 -1
1.0.1 1.0^20160101 1
1.0^20160101^git1 1.0^20160101^git1 0
1.0^20160102 1.0^20160101^git1 1
1.0^20160101^git1 1.0^20160102 -1
1.0~rc1^git1 1.0~rc1^git1 0
1.0~rc1^git1 1.0~rc1 1
1.0~rc1 1.0~rc1^git1 -1
1.0^git1~pre 1.0^git1~pre 0
1.0^git1 1.0^git1~pre 1
1.0^git1~pre 1.0^git1 -1
1b.fc17 1b.fc17 0
1b.fc17 1.fc17 -1
1.fc17 1b.fc17 1
1g.fc17 1g.fc17 0
1g.fc17 1.fc17 1
1.fc17 1g.fc17 -1
`

func TestVercmpRPMCases(t *testing.T) {
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(rpmvercmpCases), "\n") {
		f := strings.Fields(line)
		want := map[string]int{"-1": -1, "0": 0, "1": 1}[f[2]]
		if got := Vercmp(f[0], f[1]); got != want {
			t.Errorf("Vercmp(%q, %q) = %d, want %d", f[0], f[1], got, want)
		}
		n++
	}
	if n < 90 {
		t.Fatalf("only %d cases", n)
	}
}

func TestCompareEVR(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1:1.0-1", "2.0-1", 1}, // epoch wins
		{"0:1.0-1", "1.0-1", 0}, // epoch 0 == none
		{"1.0-1.amzn2", "1.0-1.amzn2.0.1", -1},
		{"3.6.8-18.amzn2.0.1", "3.6.8-18.amzn2", 1},
		{"1.10-1", "1.9-9", 1},
	} {
		if got := CompareEVR(ParseEVR(c.a), ParseEVR(c.b)); got != c.want {
			t.Errorf("CompareEVR(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestOverlap: dependency ranges as rpm matches them.
func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		provide, require string
		want             bool
	}{
		{"foo = 1.2-3", "foo >= 1.2", true},
		{"foo = 1.2-3", "foo >= 1.2-4", false},
		{"foo = 1.2-3", "foo > 1.2", false}, // release ignored when the require has none: 1.2 > 1.2 is false
		{"foo = 1.2-3", "foo = 1.2", true},
		{"foo = 1.2-3", "foo < 1.3", true},
		{"foo = 1:1.0-1", "foo >= 2.0", true}, // epoch 1 beats no epoch
		{"foo = 1.0-1", "foo >= 1:0.5", false},
		{"foo = 0:1.0-1", "foo <= 1.0-1", true},
		{"foo", "foo >= 9", true}, // unversioned provide matches anything
		{"foo >= 2.0", "foo < 3", true},
		{"foo >= 3.0", "foo < 3", false},
		{"foo = 1.0~rc1-1", "foo >= 1.0", false},
	} {
		p, r := parseDepString(c.provide), parseDepString(c.require)
		if got := overlap(p.evr, p.flags, r.evr, r.flags); got != c.want {
			t.Errorf("%q satisfies %q = %v, want %v", c.provide, c.require, got, c.want)
		}
	}
}

func parseDepString(s string) dep {
	f := strings.Fields(s)
	if len(f) == 1 {
		return dep{name: f[0]}
	}
	flags := map[string]int{"=": senseEqual, "<": senseLess, ">": senseGreater, "<=": senseLess | senseEqual, ">=": senseGreater | senseEqual}[f[1]]
	return dep{name: f[0], flags: flags, evr: ParseEVR(f[2])}
}
