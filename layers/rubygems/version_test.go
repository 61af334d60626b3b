package rubygems

import "testing"

func mustVersion(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVersionOrder(t *testing.T) {
	// Ascending, as Gem::Version sorts them.
	order := []string{"0.9", "1.0.a", "1.0.a.1", "1.0.b1", "1.0.rc1", "1.0", "1.0.1", "1.1.pre", "1.1", "1.2.2", "1.10", "2-beta", "2", "10.0"}
	for i := range order {
		for j := range order {
			a, b := mustVersion(t, order[i]), mustVersion(t, order[j])
			want := cmp(i, j)
			if got := a.Compare(b); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	for _, eq := range [][2]string{{"1", "1.0.0"}, {"1.0.a", "1.0.0.a"}, {"01.2", "1.2"}, {"2-beta", "2.pre.beta"}} {
		if mustVersion(t, eq[0]).Compare(mustVersion(t, eq[1])) != 0 {
			t.Errorf("%s != %s", eq[0], eq[1])
		}
	}
	for _, s := range []string{"1.0.rc1", "1.0.a", "2-beta"} {
		if !mustVersion(t, s).Prerelease() {
			t.Errorf("%s is not a prerelease", s)
		}
	}
	if mustVersion(t, "1.2.3").Prerelease() {
		t.Error("1.2.3 is a prerelease")
	}
	for _, bad := range []string{"1..2", "a1", "1.2/3", "1 2", "v1"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", bad)
		}
	}
}

func TestRequirement(t *testing.T) {
	for _, c := range []struct {
		req      string
		yes, not []string
	}{
		{"~> 1.2", []string{"1.2", "1.2.9", "1.9", "1.99.1"}, []string{"1.1.9", "2", "2.0.0", "2.0.a", "1.2.a"}},
		{"~> 1.2.3", []string{"1.2.3", "1.2.99"}, []string{"1.2.2", "1.3", "1.3.0"}},
		{"~> 1", []string{"1", "1.5", "1.99"}, []string{"0.9", "2"}},
		{"~> 1, >= 1.0.2", []string{"1.0.2", "1.1.0"}, []string{"1.0.1", "2.0"}},
		{"~> 1.0", []string{"1.4.0", "1.5.0.rc1"}, []string{"2.0"}},
		{"= 1.0", []string{"1", "1.0.0"}, []string{"1.0.1"}},
		{"1.0", []string{"1.0"}, []string{"1.1"}},
		{"!= 1.1", []string{"1.0", "1.2"}, []string{"1.1"}},
		{"> 1.1, < 2", []string{"1.1.1", "1.9"}, []string{"1.1", "2", "2.1"}},
		{">= 1.1, <= 2", []string{"1.1", "2"}, []string{"1.0", "2.0.1"}},
		{">= 2.3", []string{"2.7.0", "3.0.0"}, []string{"2.2.9"}},
		{"", []string{"0", "99"}, nil},
	} {
		r, err := ParseRequirement(c.req)
		if err != nil {
			t.Fatalf("%q: %v", c.req, err)
		}
		for _, v := range c.yes {
			if !r.Satisfied(mustVersion(t, v)) {
				t.Errorf("%q should allow %s", c.req, v)
			}
		}
		for _, v := range c.not {
			if r.Satisfied(mustVersion(t, v)) {
				t.Errorf("%q should not allow %s", c.req, v)
			}
		}
	}
	for _, bad := range []string{"=> 1", "~ 1", ">= ", ">= 1,", "1.0 or 2.0"} {
		if _, err := ParseRequirement(bad); err == nil {
			t.Errorf("ParseRequirement(%q) succeeded", bad)
		}
	}
}

func TestParseGem(t *testing.T) {
	for _, c := range []struct{ in, name, req string }{
		{"aws-sdk-core=3.113.0", "aws-sdk-core", "= 3.113.0"},
		{"aws-sigv4~>1.1", "aws-sigv4", "~> 1.1"},
		{"jmespath", "jmespath", ">= 0"},
		{"jmespath >= 1.0, < 2", "jmespath", ">= 1.0, < 2"},
		{"rake 13.0.1", "rake", "= 13.0.1"},
		{"net-http_persistent.x!=4", "net-http_persistent.x", "!= 4"},
	} {
		name, req, err := parseGem(c.in)
		if err != nil || name != c.name || req.String() != c.req {
			t.Errorf("parseGem(%q) = %q, %q, %v; want %q, %q", c.in, name, req, err, c.name, c.req)
		}
	}
	for _, bad := range []string{"", "=1.0", "../x", "a/b=1", "x=>1", "-x"} {
		if _, _, err := parseGem(bad); err == nil {
			t.Errorf("parseGem(%q) succeeded", bad)
		}
	}
	// bump keeps numbers exact, however long.
	if got := mustVersion(t, "1.99999999999999999999.3").bump().String(); got != "1.100000000000000000000" {
		t.Errorf("bump = %s", got)
	}
}
