#!/bin/sh
# /var/runtime/bootstrap for {{.Runtime}}, written by rtbuild: starts Node.js
# with rtbuild's runtime client. Node reads NODE_OPTIONS from the
# environment itself, so it is not repeated on the command line.
if [ ! -f /var/runtime/index.js ]; then
	echo "bootstrap: /var/runtime/index.js (the Node.js runtime client) is missing from this image" >&2
	exit 1
fi
exec /var/lang/bin/node --expose-gc --max-http-header-size 81920 /var/runtime/index.js "$_HANDLER"
