package inspect

import (
	"reflect"
	"testing"
)

func TestDiffPlatforms(t *testing.T) {
	comp := func(n, v, d string) SideComponent { return SideComponent{Name: n, Version: v, Digest: d} }
	a := &Side{Ref: "a", Kind: "catalog", Version: "1", Platforms: []SidePlatform{
		{Runtime: "r", Arch: "x86_64", Base: "al2", Components: []SideComponent{comp("x", "1", "d1"), comp("y", "1", "d2")}, Env: []string{"A=1", "B=2"}},
		{Runtime: "r", Arch: "arm64", Base: "al2"},
	}}
	b := &Side{Ref: "b", Kind: "catalog", Version: "1", Platforms: []SidePlatform{
		{Runtime: "r", Arch: "x86_64", Base: "al2", Components: []SideComponent{comp("y", "1", "d2"), comp("x", "1", "d1")}, Env: []string{"B=2", "A=1"}},
		{Runtime: "s", Arch: "x86_64", Base: "al2"},
	}}
	r, err := Diff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []PlatformDiff{
		{Runtime: "r", Arch: "x86_64", Status: Changed, Components: []ComponentChange{{Component: "*", Change: ComponentReordered, From: "x,y", To: "y,x"}}},
		{Runtime: "r", Arch: "arm64", Status: Removed},
		{Runtime: "s", Arch: "x86_64", Status: Added},
	}
	if r.Equal || r.Version != nil || !reflect.DeepEqual(r.Platforms, want) {
		t.Errorf("diff:\n%+v\nwant\n%+v", r.Platforms, want)
	}
	// Env order alone is no difference; a side against itself is equal.
	if r, _ := Diff(a, a); !r.Equal {
		t.Errorf("a side differs from itself: %+v", r)
	}
	if _, err := Diff(a, &Side{Kind: "image"}); err == nil {
		t.Error("an image and a catalog were compared")
	}
}
