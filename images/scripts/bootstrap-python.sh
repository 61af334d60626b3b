#!/bin/sh
# /var/runtime/bootstrap for {{.Runtime}}, written by rtbuild: starts the
# Python runtime interface client (awslambdaric) with the handler. The
# interpreter is the image's toolchain in /var/lang/bin, else the base
# image's own in /usr/bin.
PYTHON=/var/lang/bin/{{.Binary}}
[ -x "$PYTHON" ] || PYTHON=/usr/bin/{{.Binary}}
if [ ! -x "$PYTHON" ]; then
	echo "bootstrap: no {{.Binary}} interpreter in /var/lang/bin or /usr/bin: this image has no Python toolchain (see the runtime's notes in the catalog)" >&2
	exit 1
fi
if [ ! -d /var/runtime/awslambdaric ]; then
	echo "bootstrap: the runtime interface client /var/runtime/awslambdaric is missing from this image (see the runtime's notes in the catalog)" >&2
	exit 1
fi
exec "$PYTHON" -m awslambdaric "$_HANDLER"
