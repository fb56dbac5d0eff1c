package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestMakeRunCtrlC runs `make run ARGS=…` as a user does and presses
// Ctrl-C, that is SIGINT to the whole foreground process group (make,
// its shell, the server): the server stops in order and says so, make
// reports no error and the status is 0. The binary make built tells its
// commit.
func TestMakeRunCtrlC(t *testing.T) {
	tools := siptest.RequireBinaries(t, "make", "git")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "switchboard")
	cfg := filepath.Join(dir, "switchboard.yaml")
	config := fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\nsources:\n  - {name: demo, type: demo}\nusers:\n  - {name: anna, password_hash: \"%s\", role: admin}\n",
		filepath.Join(dir, "data"), goodHash)
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tools[0], "--no-print-directory", "run", "BIN="+bin, "ARGS=--config "+cfg+" --listen 127.0.0.1:0")
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	out := newWatchedBuffer()
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
		}
	}()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		<-read
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	// The build comes first: it may take a while on a busy machine.
	waitOutput(t, out, "Switchboard is running at ", 5*time.Minute)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("make run still running after Ctrl-C:\n%s", out)
	}
	log := out.String()
	// make itself dies of the SIGINT it got, as it always does on Ctrl-C
	// (the shell shows nothing for that); what it must not do is report
	// its recipe failed, which it does for a server that exits non-zero
	// ("make: *** [Makefile:…: run] Error 1") or dies of the signal.
	var ee *exec.ExitError
	if waitErr != nil && !(errors.As(waitErr, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
		t.Errorf("make run ended with %v", waitErr)
	}
	if strings.Contains(log, "make: ***") || strings.Contains(log, "Error") || strings.Contains(log, "Interrupt") {
		t.Errorf("make reported an error:\n%s", log)
	}
	if !strings.Contains(log, "msg=stopped cause=\"received signal interrupt\"") || !strings.Contains(log, "msg=\"shutdown complete\"") {
		t.Errorf("no stopped line in the log:\n%s", log)
	}

	head, err := exec.Command(tools[1], "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git commit to compare the version with: %v", err)
	}
	version, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "commit:  " + strings.TrimSpace(string(head)); !strings.Contains(string(version), want) {
		t.Errorf("version of the built binary:\n%s\nwant %q", version, want)
	}
}

// waitOutput waits at most d for s in the output.
func waitOutput(t *testing.T, w *watchedBuffer, s string, d time.Duration) {
	t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		ok, ch := strings.Contains(w.buf.String(), s), w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("no %q in output:\n%s", s, w.String())
		}
	}
}
