// Package run runs a built Lambda image locally without Docker, the way
// lambci's images were used: the image's file system is unpacked into a
// private temporary bundle, runc runs it in the foreground as a container of
// its own (read-only root file system, a tmpfs /tmp, new PID, mount, IPC,
// UTS and network namespaces, a cleared environment), and one event is posted
// to the Runtime Interface Emulator inside it:
//
//	POST http://127.0.0.1:8080/2015-03-31/functions/function/invocations
//
// The request is made from inside the container's network namespace (see
// DialInNetns), so the emulator's fixed ports never collide between parallel
// runs and nothing is published on the host. The response body is returned
// as is: a function error is an answer like any other, as curl against the
// emulator would show it.
//
// Run always stops the container (runc kill SIGTERM, then SIGKILL, then runc
// delete --force) and removes its temporary directories, on success, on error
// and when its context is canceled. It only ever signals the container it
// created, by its runc id, and the runc process it started, by PID.
//
// Foreign-architecture images run under QEMU user emulation through a
// binfmt_misc handler registered with the F (fix-binary) flag; Run checks for
// one and never registers anything itself.
package run
