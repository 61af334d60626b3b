package images

import "slices"

// ContractEnv is the environment every Lambda base image sets, in the order
// the official images set it (shared/LAMBDA.md, "The image contract").
var ContractEnv = [][2]string{
	{"LANG", "en_US.UTF-8"},
	{"TZ", ":/etc/localtime"},
	{"PATH", "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"},
	{"LD_LIBRARY_PATH", "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"},
	{"LAMBDA_TASK_ROOT", "/var/task"},
	{"LAMBDA_RUNTIME_DIR", "/var/runtime"},
}

// Image contract paths.
const (
	TaskRoot       = "/var/task"
	EntrypointPath = "/lambda-entrypoint.sh"
	// LabelRuntime is the image label that holds the runtime identifier.
	LabelRuntime = "rtbuild.runtime"
)

// ImageConfig returns what the runtime's image config holds beyond its base
// image's: the contract's environment in its order, then the runtime's
// additions sorted by name (an addition with a contract name replaces that
// entry in place); WorkingDir /var/task; Entrypoint /lambda-entrypoint.sh;
// the label rtbuild.runtime. There is no Cmd: a function image sets it.
func (c *Catalog) ImageConfig(r *Runtime) ImageConfig {
	env := make([]string, 0, len(ContractEnv)+len(r.Env))
	for _, kv := range ContractEnv {
		v := kv[1]
		if add, ok := r.Env[kv[0]]; ok {
			v = add
		}
		env = append(env, kv[0]+"="+v)
	}
	for _, k := range sortedKeys(r.Env) {
		if !slices.ContainsFunc(ContractEnv, func(kv [2]string) bool { return kv[0] == k }) {
			env = append(env, k+"="+r.Env[k])
		}
	}
	return ImageConfig{
		Env:        env,
		WorkingDir: TaskRoot,
		Entrypoint: []string{EntrypointPath},
		Labels:     map[string]string{LabelRuntime: r.Identifier},
	}
}
