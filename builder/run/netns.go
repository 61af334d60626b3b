package run

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Netns is an open network namespace: holding the file keeps the namespace
// alive and names it unambiguously, whatever happens to the PID it was
// opened through.
type Netns struct{ f *os.File }

// OpenNetns opens the network namespace of process pid.
func OpenNetns(pid int) (*Netns, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("open the container's network namespace: %w", err)
	}
	return &Netns{f}, nil
}

// Close releases the namespace.
func (n *Netns) Close() error { return n.f.Close() }

// IsCurrent reports whether n is the network namespace of this process.
func (n *Netns) IsCurrent() (bool, error) {
	var mine, theirs unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &mine); err != nil {
		return false, err
	}
	if err := unix.Fstat(int(n.f.Fd()), &theirs); err != nil {
		return false, err
	}
	return mine.Dev == theirs.Dev && mine.Ino == theirs.Ino, nil
}

// DialContext connects to addr from inside the namespace. A socket belongs
// to the network namespace of the thread that creates it, for its whole
// life; so the dial runs on a goroutine locked to its OS thread that enters
// the namespace, creates and connects the socket (net.Dialer does both on
// the calling thread; waiting for the connection to complete goes through
// the netpoller, which works on any thread), and returns to the original
// namespace. If returning fails, the thread stays locked and is destroyed
// when the goroutine exits, so no other goroutine ever runs in the
// container's namespace. Threads the runtime starts meanwhile come from its
// template thread, never from a locked one, so they stay in the host's.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("open this thread's network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter the container's network namespace: %w", err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// Leave the thread locked: it dies with this goroutine.
			if conn != nil {
				conn.Close()
			}
			ch <- result{nil, fmt.Errorf("return from the container's network namespace: %w", rerr)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}
