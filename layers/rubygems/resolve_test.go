package rubygems

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// opts makes metadata requests fail fast (no retries: the test server
// answers or it is a bug).
var opts = resolve.Options{Retries: -1}

func summary(arts []resolve.Artifact) string {
	var b strings.Builder
	for _, a := range arts {
		fmt.Fprintf(&b, "%s %s <- %q\n", a.Name, a.Version, a.RequiredBy)
	}
	return b.String()
}

func TestResolveClosure(t *testing.T) {
	srv := newGemServer(t)
	arts, err := Resolve(context.Background(), opts, srv.URL+"/", "2.7.0", []string{"aws-sdk-core=3.113.0"})
	if err != nil {
		t.Fatal(err)
	}
	// aws-eventstream 1.2.0 needs ruby >= 3.1 and jmespath 1.5.0.rc1 is a
	// prerelease: both are passed over.
	want := `aws-eventstream 1.1.0 <- "aws-sdk-core 3.113.0 -> aws-eventstream"
aws-partitions 1.424.0 <- "aws-sdk-core 3.113.0 -> aws-partitions"
aws-sdk-core 3.113.0 <- ""
aws-sigv4 1.2.2 <- "aws-sdk-core 3.113.0 -> aws-sigv4"
jmespath 1.4.0 <- "aws-sdk-core 3.113.0 -> jmespath"
`
	if got := summary(arts); got != want {
		t.Fatalf("resolved:\n%s\nwant:\n%s", got, want)
	}
	// Resolving downloads nothing: the server's sha256 is the pin.
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r, "/downloads/") {
			t.Errorf("Resolve downloaded %s", r)
		}
	}
	for _, a := range arts {
		file := a.Name + "-" + a.Version + ".gem"
		if a.URL != srv.URL+"/downloads/"+file {
			t.Errorf("%s: URL %s", a.Name, a.URL)
		}
		if sum := sha256Hex(srv.gems[file]); a.SHA256 != sum || a.Digest != "sha256:"+sum {
			t.Errorf("%s: SHA256 %s, Digest %s; want %s", a.Name, a.SHA256, a.Digest, sum)
		}
		// The pin is what a download verifies against.
		got, err := opts.Pin(context.Background(), a.URL, a.Digest)
		if err != nil || got != a.SHA256 {
			t.Errorf("Pin(%s) = %s, %v", a.URL, got, err)
		}
	}
}

func TestResolveRequirementForms(t *testing.T) {
	srv := newGemServer(t)
	arts, err := Resolve(context.Background(), opts, srv.URL, "2.7.0", []string{"aws-sigv4~>1.1", "jmespath >= 1.0, < 2", "aws-partitions"})
	if err != nil {
		t.Fatal(err)
	}
	want := `aws-eventstream 1.1.0 <- "aws-sigv4 1.2.2 -> aws-eventstream"
aws-partitions 1.424.0 <- ""
aws-sigv4 1.2.2 <- ""
jmespath 1.4.0 <- ""
`
	if got := summary(arts); got != want {
		t.Fatalf("resolved:\n%s\nwant:\n%s", got, want)
	}
	// Only what was picked is described: one versions list per gem, one
	// version document per pick, no download.
	var downloads, details int
	for _, r := range srv.Requests() {
		switch {
		case strings.HasPrefix(r, "/downloads/"):
			downloads++
		case strings.HasPrefix(r, "/api/v2/"):
			details++
		}
	}
	if downloads != 0 || details != 4 {
		t.Errorf("requests: %d downloads, %d version documents: %v", downloads, details, srv.Requests())
	}
	// A prerelease is taken when a requirement names one.
	arts, err = Resolve(context.Background(), opts, srv.URL, "2.7.0", []string{"jmespath>=1.5.0.rc1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(arts); got != "jmespath 1.5.0.rc1 <- \"\"\n" {
		t.Errorf("resolved %s", got)
	}
}

func TestResolveRetriesWhenALaterRequirementExcludesAPick(t *testing.T) {
	// aws-sigv4 alone would be 2.0.0; aws-sdk-core 3.113.0 needs ~> 1.1.
	srv := newGemServer(t, "overlays/sigv4-2.0")
	arts, err := Resolve(context.Background(), opts, srv.URL, "2.7.0", []string{"aws-sigv4", "aws-sdk-core=3.113.0"})
	if err != nil {
		t.Fatal(err)
	}
	got := summary(arts)
	if !strings.Contains(got, "aws-sigv4 1.2.2 <- \"\"\n") || !strings.Contains(got, "aws-sdk-core 3.113.0") {
		t.Fatalf("resolved:\n%s", got)
	}
}

func TestResolveErrors(t *testing.T) {
	for _, c := range []struct {
		name     string
		overlays []string
		ruby     string
		gems     []string
		want     string
	}{
		{
			name: "unsatisfiable dependency names the chain", overlays: []string{"overlays/sigv4-old-only"},
			ruby: "2.7.0", gems: []string{"aws-sdk-core=3.113.0"},
			want: "aws-sdk-core 3.113.0 requires aws-sigv4 ~> 1.1; no version satisfies (have: 1.0.0, 1.0.1, 1.0.2, 1.0.3)",
		},
		{
			name: "request against dependency", ruby: "2.7.0", gems: []string{"aws-sdk-core=3.113.0", "aws-sigv4=1.0.3"},
			want: "requested aws-sigv4 = 1.0.3 and aws-sdk-core 3.113.0 requires aws-sigv4 ~> 1.1; no version satisfies (have: 1.0.0, ",
		},
		{
			name: "ruby too old", ruby: "2.2.0", gems: []string{"aws-sdk-core=3.113.0"},
			want: "requested aws-sdk-core = 3.113.0; no version is for ruby 2.2.0 (3.113.0 needs ruby >= 2.3)",
		},
		{
			name: "deeper chain", ruby: "2.7.0", gems: []string{"aws-sigv4=1.2.2", "aws-eventstream>=1.2"},
			want: "requested aws-eventstream >= 1.2 and aws-sigv4 1.2.2 requires aws-eventstream ~> 1, >= 1.0.2; no version is for ruby 2.7.0 (1.2.0 needs ruby >= 3.1)",
		},
		{
			name: "only another platform", ruby: "2.7.0", gems: []string{"jruby-openssl"},
			want: `requested jruby-openssl: gem jruby-openssl is published only for platform java, not "ruby"`,
		},
		{
			name: "unknown gem", ruby: "2.7.0", gems: []string{"no-such-gem"},
			want: "gem no-such-gem: not found on",
		},
		{
			name: "bad request", ruby: "2.7.0", gems: []string{"aws-sdk-core=>3"},
			want: `"aws-sdk-core=>3"`,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newGemServer(t, c.overlays...)
			arts, err := Resolve(context.Background(), opts, srv.URL, c.ruby, c.gems)
			if err == nil {
				t.Fatalf("resolved:\n%s", summary(arts))
			}
			t.Log(err)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
		})
	}
}

func TestResolvePinMismatch(t *testing.T) {
	srv := newGemServer(t)
	arts, err := Resolve(context.Background(), opts, srv.URL, "2.7.0", []string{"jmespath~>1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 1 {
		t.Fatalf("resolved:\n%s", summary(arts))
	}
	a := arts[0]
	tampered := append([]byte{}, srv.gems["jmespath-1.4.0.gem"]...)
	tampered[len(tampered)-1] ^= 1
	srv.serve("jmespath-1.4.0.gem", tampered)
	_, err = opts.Pin(context.Background(), a.URL, a.Digest)
	var me *resolve.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Pin of a tampered gem: %v, want a *resolve.MismatchError", err)
	}
	if me.URL != a.URL || me.Want != a.Digest || me.Got != "sha256:"+sha256Hex(tampered) {
		t.Errorf("mismatch %+v; want URL %s, Want %s, Got sha256:%s", me, a.URL, a.Digest, sha256Hex(tampered))
	}
	for _, part := range []string{a.URL, a.Digest, sha256Hex(tampered)} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %s", err, part)
		}
	}
}
