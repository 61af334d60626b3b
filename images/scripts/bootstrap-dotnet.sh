#!/bin/sh
# /var/runtime/bootstrap for {{.Runtime}}, written by rtbuild: starts
# Amazon.Lambda.RuntimeSupport with the function's own .deps.json and
# .runtimeconfig.json. The handler is ASSEMBLY::TYPE::METHOD.
export DOTNET_ROOT=/var/lang/bin
TASK="${LAMBDA_TASK_ROOT:-/var/task}"
ASSEMBLY="${LAMBDA_DOTNET_MAIN_ASSEMBLY:-${_HANDLER%%::*}}"
ASSEMBLY="${ASSEMBLY%.dll}"
for f in "$TASK/$ASSEMBLY.deps.json" "$TASK/$ASSEMBLY.runtimeconfig.json"; do
	if [ ! -f "$f" ]; then
		echo "bootstrap: $f is missing: publish the function with its .deps.json and .runtimeconfig.json into $TASK" >&2
		exit 1
	fi
done
exec /var/lang/bin/dotnet exec \
	--depsfile "$TASK/$ASSEMBLY.deps.json" \
	--runtimeconfig "$TASK/$ASSEMBLY.runtimeconfig.json" \
	/var/runtime/Amazon.Lambda.RuntimeSupport.dll "$_HANDLER"
