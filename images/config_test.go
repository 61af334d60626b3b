package images

import (
	"slices"
	"testing"
)

var contractKeys = []string{"LANG", "TZ", "PATH", "LD_LIBRARY_PATH", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}

func envKeys(env []string) []string {
	var keys []string
	for _, kv := range env {
		for i := range kv {
			if kv[i] == '=' {
				keys = append(keys, kv[:i])
				break
			}
		}
	}
	return keys
}

func TestImageConfig(t *testing.T) {
	c := mustLoad(t)
	cases := []struct {
		id   string
		keys []string // after the contract's
	}{
		{"nodejs14.x", []string{"AWS_EXECUTION_ENV", "NODE_PATH"}},
		{"python3.9", []string{"AWS_EXECUTION_ENV", "PYTHONPATH"}},
		{"ruby2.7", []string{"AWS_EXECUTION_ENV", "GEM_HOME", "GEM_PATH", "RUBYLIB"}},
		{"java11", []string{"AWS_EXECUTION_ENV"}},
		{"provided.al2", nil},
	}
	for _, tc := range cases {
		r, _ := c.Runtime(tc.id)
		cfg := c.ImageConfig(r)
		if got, want := envKeys(cfg.Env), append(slices.Clone(contractKeys), tc.keys...); !slices.Equal(got, want) {
			t.Errorf("%s env order %v, want %v", tc.id, got, want)
		}
		if cfg.Env[0] != "LANG=en_US.UTF-8" || cfg.Env[2] != "PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin" {
			t.Errorf("%s contract values: %v", tc.id, cfg.Env[:3])
		}
		if cfg.WorkingDir != "/var/task" || !slices.Equal(cfg.Entrypoint, []string{"/lambda-entrypoint.sh"}) || cfg.Labels["rtbuild.runtime"] != tc.id || len(cfg.Labels) != 1 {
			t.Errorf("%s config %+v", tc.id, cfg)
		}
	}
}

func TestImageConfigAdditionReplacesContractEntryInPlace(t *testing.T) {
	c := mustLoad(t)
	r := *c.Runtimes[0]
	r.Env = map[string]string{"PATH": "/custom/bin", "AAA": "1", "ZZZ": "2"}
	env := c.ImageConfig(&r).Env
	want := []string{
		"LANG=en_US.UTF-8", "TZ=:/etc/localtime", "PATH=/custom/bin",
		"LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
		"LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime", "AAA=1", "ZZZ=2",
	}
	if !slices.Equal(env, want) {
		t.Errorf("env\n got %v\nwant %v", env, want)
	}
}
