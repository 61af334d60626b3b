#!/bin/sh
# /var/runtime/bootstrap for {{.Runtime}}, written by rtbuild: starts the Ruby
# runtime interface client (aws_lambda_ric, on RUBYLIB) with the handler. The
# interpreter is the image's toolchain: /var/lang/bin/ruby, the distribution's
# /usr/bin/{{.Binary}}, or the rh-ruby27 Software Collection (whose libraries
# are put on LD_LIBRARY_PATH).
RUBY=/var/lang/bin/ruby
[ -x "$RUBY" ] || RUBY=/usr/bin/{{.Binary}}
if [ ! -x "$RUBY" ] && [ -x /opt/rh/rh-ruby27/root/usr/bin/ruby ]; then
	RUBY=/opt/rh/rh-ruby27/root/usr/bin/ruby
	LD_LIBRARY_PATH=/opt/rh/rh-ruby27/root/usr/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
fi
if [ ! -x "$RUBY" ]; then
	echo "bootstrap: no Ruby interpreter (/var/lang/bin/ruby, /usr/bin/{{.Binary}}): this image has no Ruby toolchain (see the runtime's notes in the catalog)" >&2
	exit 1
fi
exec "$RUBY" -e 'require "aws_lambda_ric/bootstrap"; Bootstrap.start' "$_HANDLER"
