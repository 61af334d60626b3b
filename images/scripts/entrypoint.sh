#!/bin/sh
# /lambda-entrypoint.sh for the {{.Runtime}} image, written by rtbuild.
# Usage: /lambda-entrypoint.sh HANDLER   (a function image's CMD, e.g. app.handler)
# With AWS_LAMBDA_RUNTIME_API set (in Lambda) it starts the runtime's
# bootstrap; without it (run locally) it starts the Runtime Interface
# Emulator, which serves the Runtime API and starts the bootstrap.

if [ "$#" -ne 1 ]; then
	echo "lambda-entrypoint: want exactly one argument, the handler (e.g. app.handler), got $#" >&2
	exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
set -- "$RUNTIME_ENTRYPOINT"
{{- if .Wrapper}}

# AWS_LAMBDA_EXEC_WRAPPER names a script that gets the runtime command and its
# arguments and execs it (Lambda's runtime wrapper scripts, AL2 managed runtimes).
if [ -n "${AWS_LAMBDA_EXEC_WRAPPER:-}" ]; then
	if [ ! -f "$AWS_LAMBDA_EXEC_WRAPPER" ]; then
		echo "lambda-entrypoint: AWS_LAMBDA_EXEC_WRAPPER $AWS_LAMBDA_EXEC_WRAPPER does not exist" >&2
		exit 127
	fi
	if [ ! -x "$AWS_LAMBDA_EXEC_WRAPPER" ]; then
		echo "lambda-entrypoint: AWS_LAMBDA_EXEC_WRAPPER $AWS_LAMBDA_EXEC_WRAPPER is not executable" >&2
		exit 126
	fi
	set -- "$AWS_LAMBDA_EXEC_WRAPPER" "$@"
fi
{{- end}}

if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
	exec /usr/local/bin/aws-lambda-rie "$@"
fi
exec "$@"
