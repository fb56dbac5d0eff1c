package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// watchedBuffer is an io.Writer whose content a test can wait on.
type watchedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{changed: make(chan struct{})} }

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.changed)
	w.changed = make(chan struct{})
	return w.buf.Write(p)
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until the output holds s n times.
func (w *watchedBuffer) waitFor(t *testing.T, s string, n int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		ok, ch := strings.Count(w.buf.String(), s) >= n, w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("no %q (x%d) in output:\n%s", s, n, w.String())
		}
	}
}

// runFritzmonitorAsync runs the command until the test cancels it and
// returns its output and a function that stops it and returns its error.
func runFritzmonitorAsync(t *testing.T, args ...string) (out, errOut *watchedBuffer, stop func() error) {
	t.Helper()
	out, errOut = newWatchedBuffer(), newWatchedBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runFritzmonitor(ctx, stdio{out: out, err: errOut}, args) }()
	stopped := false
	var err error
	stop = func() error {
		t.Helper()
		if stopped {
			return err
		}
		stopped = true
		cancel()
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("fritzmonitor did not stop")
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return out, errOut, stop
}

func TestFritzmonitor(t *testing.T) {
	srv := fritztest.New(t)
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, stop := runFritzmonitorAsync(t, "-i", host, "-p", port, "-t", "100ms", "-c", "1s")

	errOut.waitFor(t, "(to stop press ^C)", 1)
	wait, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitConn(wait); err != nil {
		t.Fatal(err)
	}
	line := "23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;"
	srv.Send(line)
	out.waitFor(t, line+"\n", 1)

	// The router reboots: the command says so and reconnects by itself.
	srv.CloseConns()
	errOut.waitFor(t, "connection lost: connection closed by router; reconnecting in ", 1)
	errOut.waitFor(t, "reconnected to "+srv.Addr(), 1)
	if err := srv.WaitConn(wait); err != nil {
		t.Fatal(err)
	}
	srv.Send("23.11.26 10:15:09;DISCONNECT;0;0;")
	out.waitFor(t, "23.11.26 10:15:09;DISCONNECT;0;0;\n", 1)

	// The router vanishes without closing anything: the silent link is
	// probed, and the probe is refused.
	srv.Hang()
	errOut.waitFor(t, "connection lost: the router stopped answering (the health check's probe connection failed)", 1)

	if err := stop(); err != nil {
		t.Fatalf("fritzmonitor returned %v, want nil on ^C", err)
	}
	// stdout is a recording: the router's lines and nothing else.
	if got, want := out.String(), line+"\n23.11.26 10:15:09;DISCONNECT;0;0;\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	got := errOut.String()
	for _, want := range []string{"switchboard ", "start fritzmonitor on address: " + srv.Addr(), "socket-timeout: 100ms", "healthcheck-timeout: 1s", "\nstopped\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "could not connect") {
		t.Errorf("a lost connection was told as a failed one:\n%s", got)
	}
}

// TestFritzmonitorCouldNotConnect: a router that refuses the call
// monitor's port is told apart from a connection that was lost, with
// the hint to switch the call monitor on, once.
func TestFritzmonitorCouldNotConnect(t *testing.T) {
	srv := fritztest.New(t)
	srv.Stop()
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, stop := runFritzmonitorAsync(t, "-i", host, "-p", port)
	errOut.waitFor(t, "could not connect to "+srv.Addr()+": connection refused; trying again in ", 1)
	errOut.waitFor(t, "The router refuses the call monitor's port. Is the call monitor switched on? Dial #96*5* on a telephone connected to the Fritz!Box", 1)
	errOut.waitFor(t, "could not connect to "+srv.Addr(), 2)

	srv.Restart()
	errOut.waitFor(t, "connected to "+srv.Addr()+"\n", 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := errOut.String()
	if n := strings.Count(got, "#96*5*"); n != 1 {
		t.Errorf("the hint came %d times, want once:\n%s", n, got)
	}
	if strings.Contains(got, "connection lost") || strings.Contains(got, "reconnected") {
		t.Errorf("a failed connection was told as a lost one:\n%s", got)
	}
}

func TestConnectReason(t *testing.T) {
	tests := []struct {
		err     error
		want    string
		refused bool
	}{
		{fmt.Errorf("fritz dial h:1012: %w", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), "connection refused", true},
		{fmt.Errorf("fritz dial h:1012: %w", &net.OpError{Op: "dial", Err: &net.DNSError{Name: "fritz.bax", Err: "no such host", IsNotFound: true}}), "fritz.bax is not a known host name", false},
		{fmt.Errorf("fritz dial h:1012: %w", context.DeadlineExceeded), "no answer (timed out)", false},
		{fmt.Errorf("fritz dial h:1012: %w", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}), "the host is unreachable", false},
		{errors.New("fritz dial h:1012: something else"), "something else", false},
	}
	for _, tt := range tests {
		got, refused := connectReason(tt.err)
		if got != tt.want || refused != tt.refused {
			t.Errorf("connectReason(%v) = %q, %v; want %q, %v", tt.err, got, refused, tt.want, tt.refused)
		}
	}
}

// TestFritzmonitorUsage: flags that cannot work are usage errors (exit
// status 2) that say what is wrong, before anything is dialled.
func TestFritzmonitorUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-p", "99999"}, "switchboard fritzmonitor: -p 99999: a port is a number from 1 to 65535\n"},
		{[]string{"-p", "0"}, "-p 0: a port is a number from 1 to 65535"},
		{[]string{"-p", "-5"}, "-p -5: a port is a number from 1 to 65535"},
		{[]string{"-i", "192.168.178.1:70000"}, "-i 192.168.178.1:70000: the port is a number from 1 to 65535"},
		{[]string{"-i", "192.168.178.1:1012", "-p", "1013"}, "-i 192.168.178.1:1012 has a port and -p gives another"},
		{[]string{"-i", " "}, "-i: give the router's address"},
		{[]string{"-t", "0s"}, "-t 0s: want a duration above zero"},
		{[]string{"-c", "-1s"}, "-c -1s: want a duration above zero"},
		{[]string{"-x"}, "unknown flag -x"},
		{[]string{"-pp", "1012"}, "unknown flag --pp; did you mean -p?"},
		{[]string{"192.168.178.1"}, `unexpected argument "192.168.178.1" (the router's address goes after -i)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runMain(context.Background(), append([]string{"fritzmonitor"}, tt.args...), stdio{out: &out, err: &errOut})
			if code != 2 || !strings.Contains(errOut.String(), tt.want) || !strings.Contains(errOut.String(), "run `switchboard fritzmonitor -h`") {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q", out.String())
			}
		})
	}
}
