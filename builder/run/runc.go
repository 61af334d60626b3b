package run

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Grace periods of a stop.
var (
	termGrace   = 3 * time.Second // after SIGTERM, before SIGKILL
	killGrace   = 5 * time.Second // after SIGKILL / delete, before killing runc itself
	runcTimeout = 30 * time.Second
)

// container is one `runc run` in the foreground, with its private state
// directory (runc --root).
type container struct {
	runc   string
	root   string // runc --root
	id     string
	cmd    *exec.Cmd
	exited chan struct{} // closed when runc run has exited; err is then set
	err    error
}

// runcEnv is the environment runc itself gets: none of the caller's. The
// container's environment is in config.json.
var runcEnv = []string{"PATH=" + defaultPath}

// startContainer starts `runc --root ROOT run --bundle BUNDLE --pid-file
// PIDFILE ID` in its own process group (a Ctrl-C on the terminal reaches
// rtbuild, which stops the container itself, not runc). The container's
// stdout and stderr go to out (nil: /dev/null); its stdin is /dev/null.
func startContainer(runcBin, root, bundle, pidFile, id string, out io.Writer) (*container, error) {
	c := &container{runc: runcBin, root: root, id: id, exited: make(chan struct{})}
	c.cmd = exec.Command(runcBin, "--root", root, "run", "--bundle", bundle, "--pid-file", pidFile, id)
	c.cmd.Env = runcEnv
	c.cmd.Stdout, c.cmd.Stderr = out, out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.cmd.WaitDelay = killGrace // do not wait forever for output copying
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start runc: %w", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// exitError describes how runc run ended, when (e.g. "before answering");
// call it once exited is closed.
func (c *container) exitError(when string) error {
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return fmt.Errorf("the container exited with status %d %s (its output is above)", ee.ExitCode(), when)
	}
	if c.err != nil {
		return fmt.Errorf("runc run failed %s: %w", when, c.err)
	}
	return fmt.Errorf("the container exited with status 0 %s (its output is above)", when)
}

// beforeListening is when a container that exits early ended.
const beforeListening = "before its emulator listened on " + EmulatorAddr

// waitPID waits for runc to write the container's PID to pidFile.
func (c *container) waitPID(ctx context.Context, pidFile string) (int, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid, nil
			}
		}
		select {
		case <-c.exited:
			return 0, c.exitError(beforeListening)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
}

// checkPID fails unless runc reports the container running (or created)
// with process pid.
func (c *container) checkPID(pid int) error {
	out, err := c.ctl("state", c.id)
	if err != nil {
		return err
	}
	var st struct {
		Pid    int    `json:"pid"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return fmt.Errorf("runc state %s: %w", c.id, err)
	}
	if st.Pid != pid || (st.Status != "running" && st.Status != "created") {
		return fmt.Errorf("runc state %s: pid %d %s, not pid %d running", c.id, st.Pid, st.Status, pid)
	}
	return nil
}

// running reports whether runc run is still running.
func (c *container) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// waitExit waits up to d for runc run to exit.
func (c *container) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
		return false
	}
}

// ctl runs a runc subcommand on this container's state directory.
func (c *container) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runcTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.runc, append([]string{"--root", c.root}, args...)...)
	cmd.Env = runcEnv
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("runc %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// stop ends the container: SIGTERM, SIGKILL after termGrace, then runc
// delete --force; runc run then exits (it is killed by its PID if it does
// not). It fails when runc still lists the container afterwards. It only
// ever addresses this container's id and this runc's PID.
func (c *container) stop() error {
	if c.running() {
		_, _ = c.ctl("kill", c.id, "TERM") // fails when it has just exited
		if !c.waitExit(termGrace) {
			_, _ = c.ctl("kill", c.id, "KILL")
			c.waitExit(killGrace)
		}
	}
	_, _ = c.ctl("delete", "--force", c.id) // fails when runc run already deleted it
	if !c.waitExit(killGrace) {
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	out, err := c.ctl("list", "--quiet")
	if err != nil {
		return fmt.Errorf("check the container is gone: %w", err)
	}
	for _, id := range strings.Fields(out) {
		if id == c.id {
			return fmt.Errorf("runc --root %s still lists container %s after runc delete --force", c.root, c.id)
		}
	}
	return nil
}

// mountsUnder lists the mount points of this process's mount namespace at
// or below dir.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
