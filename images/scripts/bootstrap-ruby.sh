#!/bin/sh
# /var/runtime/bootstrap for {{.Runtime}}, written by rtbuild: starts the Ruby
# runtime interface client (aws_lambda_ric, on RUBYLIB) with the handler.
if [ ! -x /var/lang/bin/ruby ]; then
	echo "bootstrap: /var/lang/bin/ruby is missing: this image has no Ruby toolchain (see the runtime's notes in the catalog)" >&2
	exit 1
fi
exec /var/lang/bin/ruby -e 'require "aws_lambda_ric/bootstrap"; Bootstrap.start' "$_HANDLER"
