package siptest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a peer gets to exit after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// process is one peer program in its own process group, with its output in
// a log file. It is owned by the test that started it.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been waited for
	err     error         // Wait's result, valid after done
}

// startProcess runs bin with args in dir, stdout and stderr to logPath.
func startProcess(name, dir, logPath, bin string, args ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) //nolint:gosec // the peers run as other users and write their logs
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...) //nolint:noctx // stopped by its owner with SIGTERM, then SIGKILL, not by a context
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group, so a SIGKILL also reaches kamailio's worker
	// children; Pdeathsig ends the peer if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL to the whole group after grace, and
// waits for the exit. It is safe to call more than once.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// Workers left behind by a main process that exited first.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// logTail returns the last max bytes of the process log.
func (p *process) logTail(max int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// dumpOnFailure logs the tail of the process log when t has failed, so a
// failing real-peer test shows what the peer said.
func (p *process) dumpOnFailure(t testing.TB) {
	t.Helper()
	if t.Failed() {
		t.Logf("--- %s log (%s), tail:\n%s", p.name, p.logPath, p.logTail(8000))
	}
}
