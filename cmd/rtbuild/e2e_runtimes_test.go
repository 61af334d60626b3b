package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// contractEnv is LAMBDA.md's image contract, written out literally so the
// test does not trust the code under test for it.
var contractEnv = []string{
	"LANG=en_US.UTF-8",
	"TZ=:/etc/localtime",
	"PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	"LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
	"LAMBDA_TASK_ROOT=/var/task",
	"LAMBDA_RUNTIME_DIR=/var/runtime",
}

type ociIndex struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		Digest   string `json:"digest"`
		Platform struct {
			Architecture string `json:"architecture"`
			OS           string `json:"os"`
		} `json:"platform"`
	} `json:"manifests"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Env        []string          `json:"Env"`
		Cmd        []string          `json:"Cmd"`
		Entrypoint []string          `json:"Entrypoint"`
		WorkingDir string            `json:"WorkingDir"`
		User       string            `json:"User"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	History []struct {
		CreatedBy string `json:"created_by"`
	} `json:"history"`
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// TestAllRuntimesFromFixtureWorld builds every runtime of the catalog for every
// arch it supports from the fixture world, exactly as a user would with
// --catalog and --mirror, and checks the results with skopeo and umoci, then
// pushes to the real registry and pulls back by digest.
func TestAllRuntimesFromFixtureWorld(t *testing.T) {
	skopeo := testworld.RequireTool(t, "skopeo")
	umoci := testworld.RequireTool(t, "umoci")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("umoci unpack needs root; CI runs as root")
		}
		t.Skip("umoci unpack needs root")
	}
	w := testworld.Start(t)
	cacheDir := t.TempDir() // shared: the builds run concurrently on one cache
	if len(w.Catalog.Runtimes) != 18 {
		t.Fatalf("catalog has %d runtimes, want the table's 18", len(w.Catalog.Runtimes))
	}
	for _, rt := range w.Catalog.Runtimes {
		t.Run(rt.Identifier, func(t *testing.T) {
			t.Parallel()
			work := t.TempDir()
			out := filepath.Join(work, "layout")
			tarPath := filepath.Join(work, "image.tar")
			mdPath := filepath.Join(work, "metadata.json")
			repo := w.Registry.Host + "/rt/" + rt.Identifier
			args := append([]string{"image", rt.Identifier, "--allow-deprecated", "--progress", "plain",
				"--cache-dir", cacheDir, "--output", "oci:" + out, "--output", "docker:" + tarPath,
				"--push", repo + ":v1", "--metadata-file", mdPath}, w.Args()...)
			r := mustCLI(t, work, nil, args...)
			md := readMetadata(t, mdPath)
			if len(md.Images) != 1 || md.Images[0].Runtime != rt.Identifier {
				t.Fatalf("metadata images = %+v", md.Images)
			}
			im := md.Images[0]
			if !strings.Contains(r.stdout, rt.Identifier+" "+im.Digest) {
				t.Errorf("stdout %q does not report %s %s", r.stdout, rt.Identifier, im.Digest)
			}

			// The OCI layout, read by skopeo.
			rawIdx := runTool(t, skopeo, "inspect", "--raw", "oci:"+out+":"+rt.Identifier)
			if got := sha256Hex([]byte(rawIdx)); got != im.Digest {
				t.Errorf("layout index digest %s, metadata says %s", got, im.Digest)
			}
			var idx ociIndex
			if err := json.Unmarshal([]byte(rawIdx), &idx); err != nil {
				t.Fatal(err)
			}
			if idx.MediaType != "application/vnd.oci.image.index.v1+json" {
				t.Errorf("index media type %q", idx.MediaType)
			}
			if len(idx.Manifests) != len(rt.Architectures) {
				t.Fatalf("index has %d manifests, runtime supports %v", len(idx.Manifests), rt.Architectures)
			}
			for i, arch := range rt.Architectures {
				if idx.Manifests[i].Platform.Architecture != arch.OCI() || idx.Manifests[i].Platform.OS != "linux" {
					t.Errorf("manifest %d platform %+v, want linux/%s", i, idx.Manifests[i].Platform, arch.OCI())
				}
				checkPlatform(t, w, rt, arch, out, tarPath, skopeo, umoci, work)
			}

			// Push, then pull by digest: the same index; per-arch tags exist.
			pulled := runTool(t, skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+repo+"@"+im.Digest)
			if pulled != rawIdx {
				t.Errorf("index pulled by digest differs from the layout's")
			}
			if im.Pushed != repo+":v1@"+im.Digest {
				t.Errorf("metadata pushed %q, want %s", im.Pushed, repo+":v1@"+im.Digest)
			}
			for _, pm := range im.Platforms {
				raw := runTool(t, skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+repo+":v1-"+pm.Arch)
				if got := sha256Hex([]byte(raw)); got != pm.Digest {
					t.Errorf("tag v1-%s has digest %s, want %s", pm.Arch, got, pm.Digest)
				}
			}
		})
	}
}

func checkPlatform(t *testing.T, w *testworld.World, rt *images.Runtime, arch images.Arch, layout, tarPath string, skopeo, umoci, work string) {
	t.Helper()
	ref := rt.Identifier + "-" + string(arch)
	var cfg imageConfig
	if err := json.Unmarshal([]byte(runTool(t, skopeo, "inspect", "--config", "oci:"+layout+":"+ref)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != arch.OCI() || cfg.OS != "linux" {
		t.Errorf("%s: config platform %s/%s", ref, cfg.OS, cfg.Architecture)
	}
	if len(cfg.Config.Env) < len(contractEnv) || !slices.Equal(cfg.Config.Env[:len(contractEnv)], contractEnv) {
		t.Errorf("%s: env %q does not start with the contract %q", ref, cfg.Config.Env, contractEnv)
	}
	managed := rt.Family != "provided"
	hasExecEnv := slices.Contains(cfg.Config.Env, "AWS_EXECUTION_ENV=AWS_Lambda_"+rt.Identifier)
	if managed != hasExecEnv {
		t.Errorf("%s: AWS_EXECUTION_ENV present=%v, want %v (env %q)", ref, hasExecEnv, managed, cfg.Config.Env)
	}
	if cfg.Config.WorkingDir != "/var/task" {
		t.Errorf("%s: WorkingDir %q", ref, cfg.Config.WorkingDir)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/lambda-entrypoint.sh"}) {
		t.Errorf("%s: Entrypoint %q", ref, cfg.Config.Entrypoint)
	}
	if len(cfg.Config.Cmd) != 0 || cfg.Config.User != "" {
		t.Errorf("%s: base image must have no Cmd and no User, got Cmd %q User %q", ref, cfg.Config.Cmd, cfg.Config.User)
	}
	if cfg.Config.Labels["rtbuild.runtime"] != rt.Identifier {
		t.Errorf("%s: label rtbuild.runtime = %q", ref, cfg.Config.Labels["rtbuild.runtime"])
	}
	for _, key := range rt.Components {
		found := false
		for _, h := range cfg.History {
			if strings.Contains(h.CreatedBy, key+" "+w.Catalog.Components[key].Version) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no history entry names component %s", ref, key)
		}
	}

	// The docker-archive tar, read by skopeo.
	var dcfg imageConfig
	if err := json.Unmarshal([]byte(runTool(t, skopeo, "inspect", "--config", "docker-archive:"+tarPath+":rtbuild/"+rt.Identifier+":"+string(arch))), &dcfg); err != nil {
		t.Fatal(err)
	}
	if dcfg.Architecture != arch.OCI() || !slices.Equal(dcfg.Config.Env, cfg.Config.Env) {
		t.Errorf("%s: docker-archive config differs: %s %q", ref, dcfg.Architecture, dcfg.Config.Env)
	}

	// umoci unpacks the platform; every component is at its path.
	bundle := filepath.Join(work, "bundle-"+string(arch))
	runTool(t, umoci, "unpack", "--image", layout+":"+ref, bundle)
	rootfs := filepath.Join(bundle, "rootfs")
	if _, err := os.Stat(filepath.Join(rootfs, "etc/os-release")); err != nil {
		t.Errorf("%s: base layer missing: %v", ref, err)
	}
	for _, e := range w.Expect[rt.Identifier][arch] {
		p := filepath.Join(rootfs, e.Path)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %s missing: %v", ref, e.Path, err)
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != 0 || st.Gid != 0) {
			t.Errorf("%s: %s owned by %d:%d, want 0:0", ref, e.Path, st.Uid, st.Gid)
		}
		if e.Symlink != "" {
			target, err := os.Readlink(p)
			if err != nil || target != e.Symlink {
				t.Errorf("%s: %s links to %q (%v), want %q", ref, e.Path, target, err, e.Symlink)
			}
			continue
		}
		if got := int64(fi.Mode().Perm()); got != e.Mode {
			t.Errorf("%s: %s mode %o, want %o", ref, e.Path, got, e.Mode)
		}
	}
	for _, p := range []string{"lambda-entrypoint.sh", "var/runtime/bootstrap", "usr/local/bin/aws-lambda-rie"} {
		fi, err := os.Stat(filepath.Join(rootfs, p))
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: /%s must exist and be executable (%v)", ref, p, err)
		}
	}
}
