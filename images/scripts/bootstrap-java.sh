#!/bin/sh
# /var/runtime/bootstrap for {{.Runtime}}, written by rtbuild: starts the Java
# runtime interface client from /var/runtime/lib with the handler; it loads
# the function from /var/task and /var/task/lib.
exec /var/lang/bin/java \
	-XX:+TieredCompilation -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
	-cp '/var/runtime/lib/*' \
	com.amazonaws.services.lambda.runtime.api.client.AWSLambda "$_HANDLER"
