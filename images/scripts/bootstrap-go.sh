#!/bin/sh
# /var/runtime/bootstrap for {{.Runtime}}, written by rtbuild: the handler is
# the name of the function's executable in /var/task (built with
# github.com/aws/aws-lambda-go, which speaks the Runtime API).
HANDLER_BIN="${LAMBDA_TASK_ROOT:-/var/task}/$_HANDLER"
if [ ! -x "$HANDLER_BIN" ]; then
	echo "bootstrap: $HANDLER_BIN is not an executable: build the function as a linux binary named like the handler" >&2
	exit 1
fi
exec "$HANDLER_BIN"
