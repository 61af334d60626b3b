#!/bin/sh
# /var/runtime/bootstrap for {{.Runtime}}, written by rtbuild: a custom runtime
# is the function's own bootstrap, from the function (/var/task) or a layer
# (/opt), as in Lambda.
for BOOTSTRAP in "${LAMBDA_TASK_ROOT:-/var/task}/bootstrap" /opt/bootstrap; do
	if [ -x "$BOOTSTRAP" ]; then
		exec "$BOOTSTRAP" "$@"
	fi
done
echo "bootstrap: no executable bootstrap in ${LAMBDA_TASK_ROOT:-/var/task} or /opt: a custom runtime function ships its own" >&2
exit 1
