package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// frunResult is the response of one `rtbuild run` and what it wrote to stderr.
type frunResult struct {
	resp   map[string]any
	stderr string
}

// frunImage runs image (oci:DIR:REF or a registry reference) for arch with
// event through `rtbuild run` (runc and the real emulator), with the image's
// CMD as the handler unless handler is given.
func frunImage(t *testing.T, work, image string, arch images.Arch, handler, event string) frunResult {
	t.Helper()
	ev := filepath.Join(work, "event.json")
	if err := os.WriteFile(ev, []byte(event), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", image, "--arch", string(arch), "--event", ev, "--timeout", "60s", "--tmp-dir", work}
	if handler != "" {
		args = append(args, "--handler", handler)
	}
	r := cli(t, work, nil, args...)
	if r.code != 0 {
		t.Fatalf("rtbuild run %s: exit %d\nstdout: %s\nstderr:\n%s", image, r.code, r.stdout, r.stderr)
	}
	var resp map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil {
		t.Fatalf("%s: response is not a JSON object: %v\n%s\nstderr:\n%s", image, err, r.stdout, r.stderr)
	}
	return frunResult{resp: resp, stderr: r.stderr}
}

// TestRunFunctionImages builds function images with `rtbuild function` on the
// real nodejs14.x and provided.al2 runtimes and answers them with `rtbuild
// run`: a .zip package (file modes kept) with a .zip layer whose library the
// handler imports, on both arches; a Go bootstrap from a directory for
// provided.al2 on both arches; a layer carrying an external extension whose
// register and next-event calls the emulator answers; and a function image
// pushed to the registry, rebased onto a patched runtime and run from there.
// arm64 runs under QEMU.
func TestRunFunctionImages(t *testing.T) {
	requireRunc(t)
	w := testworld.StartReal(t, testworld.RealOptions{})
	cacheDir := filepath.Join(testworld.CacheDir(t), "rtbuild-e2e-cache")
	function := func(work string, extra ...string) {
		t.Helper()
		args := append([]string{"function", "--cache-dir", cacheDir}, extra...)
		mustCLI(t, work, nil, append(args, w.Args()...)...)
	}
	bothArches := func(t *testing.T, f func(t *testing.T, arch images.Arch)) {
		for _, arch := range []images.Arch{images.X86_64, images.Arm64} {
			t.Run(string(arch), func(t *testing.T) {
				if arch == images.Arm64 {
					requireArm64Emulation(t)
				}
				f(t, arch)
			})
		}
	}

	// The node function as a .zip: testdata/functions/node, a handler that
	// imports the layer's library and reports the mode of an executable
	// helper, and the helper itself (0755, which must survive).
	nodeFiles := map[string]fnFile{
		"uselayer.js": {0o644, "const fs = require('fs');\nconst greet = require('greet');\n" +
			"exports.handler = async (e) => ({ greeting: greet(e.name), helperMode: (fs.statSync(__dirname + '/bin/helper').mode & 0o777).toString(8) });\n"},
		"bin/helper": {0o755, "#!/bin/sh\necho helper\n"},
	}
	nodeNames := []string{"uselayer.js", "bin/helper"}
	for _, rel := range []string{"app.js", "lib/deep/app.js"} {
		b, err := os.ReadFile(filepath.Join(testworld.FunctionDir("node"), rel))
		if err != nil {
			t.Fatal(err)
		}
		nodeFiles[rel] = fnFile{0o644, string(b)}
		nodeNames = append(nodeNames, rel)
	}
	nodeZip := fnZip(t, nodeNames, nodeFiles)
	greetZip := fnZip(t, []string{"nodejs/node_modules/greet/index.js"}, map[string]fnFile{
		"nodejs/node_modules/greet/index.js": {0o644, "module.exports = (n) => 'hello ' + n + ' from the layer';"},
	})

	t.Run("zip-layer-nodejs14.x", func(t *testing.T) {
		bothArches(t, func(t *testing.T, arch images.Arch) {
			work := t.TempDir()
			out := filepath.Join(work, "layout")
			function(work, "--runtime", "nodejs14.x", "--arch", string(arch), "--zip", nodeZip, "--layer", greetZip,
				"--handler", "app.handler", "--output", "oci:"+out)
			fsys := fnFlatten(t, fnLayoutImage(t, out, "function-"+string(arch)), "var/task/bin/helper")
			if e := fsys["var/task/bin/helper"]; e.mode != 0o755 {
				t.Errorf("/var/task/bin/helper mode %o in the image, the zip's is 755", e.mode)
			}
			image := "oci:" + out + ":function-" + string(arch)
			r := frunImage(t, work, image, arch, "", `{"name":"zip-`+string(arch)+`"}`)
			if r.resp["hello"] != "zip-"+string(arch) || r.resp["runtime"] != "nodejs" {
				t.Errorf("the image's CMD app.handler answered %v", r.resp)
			}
			r = frunImage(t, work, image, arch, "uselayer.handler", `{"name":"zip"}`)
			if r.resp["greeting"] != "hello zip from the layer" || r.resp["helperMode"] != "755" {
				t.Errorf("uselayer.handler answered %v (want the layer's greeting and helper mode 755)", r.resp)
			}
		})
	})

	t.Run("provided.al2-bootstrap", func(t *testing.T) {
		bothArches(t, func(t *testing.T, arch images.Arch) {
			work := t.TempDir()
			bin, err := os.ReadFile(testworld.GoHandler(t, arch.OCI()))
			if err != nil {
				t.Fatal(err)
			}
			src := fnTree(t, map[string]fnFile{"bootstrap": {0o755, string(bin)}})
			out := filepath.Join(work, "layout")
			function(work, "--runtime", "provided.al2", "--arch", string(arch), "--src", src, "--handler", "x", "--output", "oci:"+out)
			r := frunImage(t, work, "oci:"+out+":function-"+string(arch), arch, "", `{"name":"go-`+string(arch)+`"}`)
			if r.resp["hello"] != "go-"+string(arch) || r.resp["handler"] != "x" || r.resp["executable"] != "/var/task/bootstrap" {
				t.Errorf("provided.al2 (%s) answered %v", arch, r.resp)
			}
		})
	})

	t.Run("extension", func(t *testing.T) {
		work := t.TempDir()
		ext, err := os.ReadFile(testworld.ExtensionBinary(t, "amd64"))
		if err != nil {
			t.Fatal(err)
		}
		layer := fnTree(t, map[string]fnFile{"extensions/rtbuild-test-extension": {0o755, string(ext)}})
		out := filepath.Join(work, "layout")
		function(work, "--runtime", "nodejs14.x", "--arch", "x86_64", "--zip", nodeZip, "--layer", layer,
			"--handler", "app.handler", "--output", "oci:"+out)
		r := frunImage(t, work, "oci:"+out+":function-x86_64", images.X86_64, "", `{"name":"ext"}`)
		if r.resp["hello"] != "ext" || r.resp["runtime"] != "nodejs" {
			t.Errorf("the function with an extension answered %v", r.resp)
		}
		reqID, _ := r.resp["requestId"].(string)
		for _, line := range strings.Split(r.stderr, "\n") {
			if strings.Contains(line, "rtbuild-test-extension") {
				t.Log(line)
			}
		}
		for _, want := range []string{
			"rtbuild-test-extension registered id=",
			"rtbuild-test-extension event INVOKE requestId=" + reqID,
		} {
			if reqID == "" || !strings.Contains(r.stderr, want) {
				t.Errorf("the output has no %q (request %q):\n%s", want, reqID, r.stderr)
			}
		}
	})

	t.Run("rebase-and-run", func(t *testing.T) {
		work := t.TempDir()
		reg := w.Registry.Host
		image := func(push string, extra ...string) {
			t.Helper()
			args := append([]string{"image", "nodejs14.x", "--arch", "x86_64", "--cache-dir", cacheDir, "--push", push}, w.Args()...)
			mustCLI(t, work, nil, append(args, extra...)...)
		}
		image(reg + "/rt/node:old")
		src := fnTree(t, map[string]fnFile{})
		fnCopyTree(t, testworld.FunctionDir("node"), src)
		function(work, "--runtime", "nodejs14.x", "--arch", "x86_64", "--src", src, "--handler", "app.handler",
			"--env", "STAGE=rebased", "--push", reg+"/fn/node:1")
		before := frunRemoteImage(t, reg+"/fn/node:1")
		bm, _ := before.Manifest()

		// The patched runtime: the world's Amazon Linux 2 base with one more
		// layer on amd64 (as a CVE fix in the base would be), through a
		// catalog overlay, as in TestRebaseEndToEnd.
		baseRef, err := name.ParseReference(reg + "/amazonlinux/amazonlinux@" + w.Bases["al2"].String())
		if err != nil {
			t.Fatal(err)
		}
		baseIdx, err := remote.Index(baseRef)
		if err != nil {
			t.Fatal(err)
		}
		patch := frunTarLayer(t, "etc/rtbuild-patched", "patched\n")
		patched := mutate.IndexMediaType(baseIdx, types.DockerManifestList)
		im, _ := baseIdx.IndexManifest()
		for _, d := range im.Manifests {
			if d.Platform == nil || d.Platform.Architecture != "amd64" {
				continue
			}
			img, err := baseIdx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if img, err = mutate.AppendLayers(img, patch); err != nil {
				t.Fatal(err)
			}
			patched = mutate.RemoveManifests(patched, func(x v1.Descriptor) bool { return x.Digest == d.Digest })
			patched = mutate.AppendManifests(patched, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: d.Platform}})
		}
		pr, _ := name.ParseReference(reg + "/amazonlinux/amazonlinux:2-patched")
		if err := remote.WriteIndex(pr, patched); err != nil {
			t.Fatal(err)
		}
		pd, _ := patched.Digest()
		overlay := filepath.Join(work, "patched.yaml")
		b, _ := yaml.Marshal(map[string]any{"bases": map[string]any{"al2": map[string]any{"image": "public.ecr.aws/amazonlinux/amazonlinux:2-patched@" + pd.String()}}})
		if err := os.WriteFile(overlay, b, 0o644); err != nil {
			t.Fatal(err)
		}
		image(reg+"/rt/node:new", "--catalog", overlay)
		newRT := frunRemoteImage(t, reg+"/rt/node:new-x86_64")
		nm, _ := newRT.Manifest()

		// The function image's base annotation is rtbuild:nodejs14.x (the
		// runtime was built in-process, not pulled): rebase cannot resolve it
		// without --old. Record what it does, then rebase with --old.
		r := cli(t, work, nil, append([]string{"rebase", reg + "/fn/node:1", "--onto", reg + "/rt/node:new"}, w.Args()...)...)
		t.Logf("rebase without --old: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		t.Logf("fn/node:1 base annotations %v; rt/node:old-x86_64 is %s", bm.Annotations, frunDigest(t, reg+"/rt/node:old-x86_64"))
		if r.code == 0 {
			t.Logf("rebase resolved the rtbuild:nodejs14.x base annotation by itself")
		}
		if d := frunDigest(t, reg+"/fn/node:1"); r.code != 0 && d != frunMust(before.Digest()) {
			t.Fatalf("a failed rebase changed fn/node:1 to %s", d)
		}
		mustCLI(t, work, nil, append([]string{"rebase", reg + "/fn/node:1", "--old", reg + "/rt/node:old", "--onto", reg + "/rt/node:new"}, w.Args()...)...)

		after := frunRemoteImage(t, reg+"/fn/node:1")
		am, _ := after.Manifest()
		if len(am.Layers) != len(nm.Layers)+1 {
			t.Fatalf("the rebased image has %d layers, want the new runtime's %d + the code layer", len(am.Layers), len(nm.Layers))
		}
		for i, d := range nm.Layers {
			if am.Layers[i].Digest != d.Digest {
				t.Errorf("layer %d is %s, the new runtime's is %s", i, am.Layers[i].Digest, d.Digest)
			}
		}
		if got, want := am.Layers[len(am.Layers)-1].Digest, bm.Layers[len(bm.Layers)-1].Digest; got != want {
			t.Errorf("the code layer is %s, was %s", got, want)
		}
		cf, _ := after.ConfigFile()
		if !slices.Equal(cf.Config.Cmd, []string{"app.handler"}) || !slices.Contains(cf.Config.Env, "STAGE=rebased") {
			t.Errorf("the rebased config lost CMD or env: %q %q", cf.Config.Cmd, cf.Config.Env)
		}
		res := frunImage(t, work, reg+"/fn/node:1", images.X86_64, "", `{"name":"rebased"}`)
		if res.resp["hello"] != "rebased" || res.resp["runtime"] != "nodejs" {
			t.Errorf("the rebased image answered %v", res.resp)
		}
	})
}

// frunTarLayer is a gzipped layer of one regular file.
func frunTarLayer(t *testing.T, path, body string) v1.Layer {
	t.Helper()
	tgz := tarGz(t, map[string]string{path: body})
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tgz)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func frunRemoteImage(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func frunDigest(t *testing.T, ref string) v1.Hash {
	t.Helper()
	return frunMust(frunRemoteImage(t, ref).Digest())
}

func frunMust(h v1.Hash, err error) v1.Hash {
	if err != nil {
		panic(err)
	}
	return h
}
