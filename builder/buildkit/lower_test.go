package buildkit

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/layers/mirror"
)

// testPlan is python3.9 from the embedded catalog with the emulator pinned
// (a pinned file component: buildkitd downloads it).
func testPlan(t *testing.T) *builder.Plan {
	t.Helper()
	cat, err := images.Load()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := builder.MakePlan(cat, builder.Request{Runtimes: []string{"python3.9"}}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range plan.Runtimes[0].Platforms {
		for _, st := range pp.Steps {
			if st.ComponentKey == "rie" {
				st.Sources = []*images.Source{{URL: st.Sources[0].URL, SHA256: strings.Repeat("ab", 32)}}
			}
		}
	}
	return plan
}

// prepareFake puts a small layer into a fresh layer cache for every
// Prepared step of the plan.
func prepareFake(t *testing.T, plan *builder.Plan, daemonFetch bool) (*cache.Cache, map[*builder.Step]*cache.Entry) {
	t.Helper()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := map[*builder.Step]*cache.Entry{}
	for _, pp := range plan.Runtimes[0].Platforms {
		for _, st := range pp.Steps {
			if loweringOf(st, daemonFetch) != Prepared {
				continue
			}
			body := []byte(st.ComponentKey + " " + string(pp.Arch))
			e, err := c.Put(strings.Repeat("0", 10)+st.ComponentKey+string(pp.Arch), func(w io.Writer) error {
				tw := tar.NewWriter(w)
				if err := tw.WriteHeader(&tar.Header{Name: "opt/" + st.ComponentKey, Mode: 0o644, Size: int64(len(body))}); err != nil {
					return err
				}
				if _, err := tw.Write(body); err != nil {
					return err
				}
				return tw.Close()
			})
			if err != nil {
				t.Fatal(err)
			}
			out[st] = e
		}
	}
	return c, out
}

// decoded is a marshalled definition, op by op.
type decoded struct {
	ops   map[digest.Digest]*pb.Op
	names map[digest.Digest]string
	top   digest.Digest
}

func decode(t *testing.T, def *llb.Definition) decoded {
	t.Helper()
	d := decoded{ops: map[digest.Digest]*pb.Op{}, names: map[digest.Digest]string{}}
	for i, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		dg := digest.FromBytes(dt)
		d.ops[dg] = &op
		if i == len(def.Def)-1 {
			d.top = digest.Digest(op.Inputs[0].Digest) // the last op is the definition's output
		}
	}
	for dg, md := range def.Metadata {
		d.names[dg] = md.Description["llb.customname"]
	}
	return d
}

func lowerTest(t *testing.T, plan *builder.Plan, arch images.Arch, daemonFetch bool) (*lowered, decoded) {
	t.Helper()
	rp := plan.Runtimes[0]
	var pp *builder.PlatformPlan
	for _, p := range rp.Platforms {
		if p.Arch == arch {
			pp = p
		}
	}
	c, prepared := prepareFake(t, plan, daemonFetch)
	rules, err := mirror.Parse("https://github.com/=http://mirror.example/gh/", "public.ecr.aws/=registry.example/")
	if err != nil {
		t.Fatal(err)
	}
	low, err := lower(lowerInput{
		Runtime: rp.Runtime, PP: pp, BaseRef: "registry.example/amazonlinux/amazonlinux:2@sha256:" + strings.Repeat("cd", 32),
		Epoch: plan.Epoch, Mirrors: rules, Prepared: prepared, Layers: c, DaemonFetch: daemonFetch,
	})
	if err != nil {
		t.Fatal(err)
	}
	def, err := low.State.Marshal(context.Background(), llb.Platform(low.Platform))
	if err != nil {
		t.Fatal(err)
	}
	return low, decode(t, def)
}

// One vertex per component, named after it, merged onto the base in layer
// order; archives prepared and sent as a local source, the pinned emulator
// downloaded by buildkitd, builtins inline.
func TestLowerOneVertexPerComponent(t *testing.T) {
	plan := testPlan(t)
	low, d := lowerTest(t, plan, images.Arm64, true)
	pp := plan.Runtimes[0].Platforms[1]

	merge := d.ops[d.top]
	if merge.GetMerge() == nil {
		t.Fatalf("top op is not a merge: %v", merge)
	}
	if got, want := len(merge.Inputs), 1+len(pp.Steps); got != want {
		t.Fatalf("merge has %d inputs, want base + %d components", got, len(pp.Steps))
	}
	if n := d.names[d.top]; n != "rtbuild [python3.9 arm64] image" {
		t.Errorf("merge named %q", n)
	}
	base := d.ops[digest.Digest(merge.Inputs[0].Digest)]
	if id := base.GetSource().GetIdentifier(); id != "docker-image://registry.example/amazonlinux/amazonlinux:2@sha256:"+strings.Repeat("cd", 32) {
		t.Errorf("base source %q", id)
	}
	if p := base.Platform; p == nil || p.Architecture != "arm64" || p.Variant != "v8" {
		t.Errorf("base platform %v", p)
	}

	kinds := map[string]Lowering{}
	for i, step := range pp.Steps {
		in := merge.Inputs[i+1]
		op := d.ops[digest.Digest(in.Digest)]
		name := d.names[digest.Digest(in.Digest)]
		if name != low.Components[i] || !strings.Contains(name, step.ComponentKey+" "+step.Component.Version) {
			t.Errorf("component %s: vertex named %q (lowered as %q)", step.ComponentKey, name, low.Components[i])
		}
		if info := low.Vertices[name]; info.Role != RoleComponent || info.Component != step.ComponentKey {
			t.Errorf("component %s: vertex info %+v", step.ComponentKey, info)
		}
		f := op.GetFile()
		if f == nil || len(f.Actions) != 1 || f.Actions[0].GetCopy() == nil {
			t.Fatalf("component %s: not one copy into scratch: %v", step.ComponentKey, op)
		}
		cp := f.Actions[0].GetCopy()
		src := d.ops[digest.Digest(op.Inputs[0].Digest)]
		kind := LoweringOf(step)
		kinds[step.ComponentKey] = kind
		switch kind {
		case Prepared:
			s := src.GetSource()
			if !cp.AttemptUnpackDockerCompatibility || cp.Dest != "/" || !strings.HasPrefix(s.GetIdentifier(), "local://"+LocalName) {
				t.Errorf("component %s: prepared copy %+v from %v", step.ComponentKey, cp, s)
			}
			var pats []string
			if err := json.Unmarshal([]byte(s.Attrs[pb.AttrIncludePatterns]), &pats); err != nil || len(pats) != len(low.Blobs) {
				t.Errorf("local source include patterns %q, blobs %v", s.Attrs[pb.AttrIncludePatterns], low.Blobs)
			}
			if !strings.HasPrefix(cp.Src, "/blobs/sha256/") {
				t.Errorf("component %s: copies %s", step.ComponentKey, cp.Src)
			}
		case Download:
			s := src.GetSource()
			if s.GetIdentifier() != "http://mirror.example/gh/aws/aws-lambda-runtime-interface-emulator/releases/download/v1.22/aws-lambda-rie-arm64" ||
				s.Attrs[pb.AttrHTTPChecksum] != "sha256:"+strings.Repeat("ab", 32) || s.Attrs[pb.AttrHTTPPerm] != "0755" {
				t.Errorf("component %s: download %v", step.ComponentKey, s)
			}
			if cp.Dest != step.Component.Path || !cp.CreateDestPath || cp.Timestamp != 0 {
				t.Errorf("component %s: copy %+v", step.ComponentKey, cp)
			}
		case Inline:
			mk := src.GetFile().GetActions()[0].GetMkfile()
			if mk == nil || !bytes.Equal(mk.Data, step.Content) || mk.Mode != 0o755 || cp.Dest != step.Component.Path {
				t.Errorf("component %s: inline content %v, copy %+v", step.ComponentKey, src, cp)
			}
		}
	}
	want := map[string]Lowering{"python39": Prepared, "boto3": Prepared, "awslambdaric-cp39": Prepared, "simplejson": Prepared,
		"rie": Download, "bootstrap": Inline, "entrypoint": Inline}
	for k, v := range want {
		if kinds[k] != v {
			t.Errorf("%s lowered as %d, want %d", k, kinds[k], v)
		}
	}
}

// Components whose vertex depends on the platform (a platform's download or
// prepared layers) are distinct vertices per platform; inline content is
// one vertex for every platform (BuildKit's file ops are not platform
// specific), named without one.
func TestLowerPlatformScope(t *testing.T) {
	plan := testPlan(t)
	amd, _ := lowerTest(t, plan, images.X86_64, true)
	arm, _ := lowerTest(t, plan, images.Arm64, true)
	for i, step := range plan.Runtimes[0].Platforms[0].Steps {
		same := amd.Components[i] == arm.Components[i]
		if (LoweringOf(step) == Inline) != same {
			t.Errorf("%s (%d): x86_64 vertex %q, arm64 %q", step.ComponentKey, LoweringOf(step), amd.Components[i], arm.Components[i])
		}
	}
}

// Offline, buildkitd fetches nothing: the pinned emulator is prepared too.
func TestLowerOffline(t *testing.T) {
	plan := testPlan(t)
	_, d := lowerTest(t, plan, images.X86_64, false)
	for _, op := range d.ops {
		if s := op.GetSource(); s != nil && strings.HasPrefix(s.Identifier, "http") {
			t.Errorf("offline lowering downloads %s", s.Identifier)
		}
	}
}

// A special mode bit or an unpinned artifact keeps a file component prepared.
func TestLoweringOf(t *testing.T) {
	plan := testPlan(t)
	var rie *builder.Step
	for _, st := range plan.Runtimes[0].Platforms[0].Steps {
		if st.ComponentKey == "rie" {
			rie = st
		}
	}
	if LoweringOf(rie) != Download {
		t.Fatalf("pinned rie: %d", LoweringOf(rie))
	}
	unpinned := *rie
	unpinned.Sources = []*images.Source{{URL: rie.Sources[0].URL}}
	if LoweringOf(&unpinned) != Prepared {
		t.Errorf("unpinned rie: %d, want Prepared", LoweringOf(&unpinned))
	}
	comp := *rie.Component
	comp.Mode = "4755"
	setuid := *rie
	setuid.Component = &comp
	if LoweringOf(&setuid) != Prepared {
		t.Errorf("setuid rie: %d, want Prepared", LoweringOf(&setuid))
	}
}

func TestLowerRefusesAnEmptyLayer(t *testing.T) {
	plan := testPlan(t)
	rp := plan.Runtimes[0]
	pp := rp.Platforms[0]
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	prepared := map[*builder.Step]*cache.Entry{}
	for _, st := range pp.Steps {
		e, err := c.Put("empty"+st.ComponentKey, func(w io.Writer) error { return tar.NewWriter(w).Close() })
		if err != nil {
			t.Fatal(err)
		}
		prepared[st] = e
	}
	_, err = lower(lowerInput{Runtime: rp.Runtime, PP: pp, BaseRef: "x/y:z", Epoch: plan.Epoch, Prepared: prepared, Layers: c, DaemonFetch: true})
	if err == nil || !strings.Contains(err.Error(), "component python39: its layer is empty") {
		t.Errorf("err %v", err)
	}
}
