package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
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

func TestFritzmonitor(t *testing.T) {
	srv := fritztest.New(t)
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	out, errOut := newWatchedBuffer(), newWatchedBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- fritzmonitor(ctx, []string{"-i", host, "-p", port, "-t", "100ms", "-c", "1s"}, out, errOut)
	}()

	out.waitFor(t, "(to stop press ^C)", 1)
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := srv.WaitConn(wait); err != nil {
		t.Fatal(err)
	}
	line := "23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;"
	srv.Send(line)
	out.waitFor(t, line+"\n", 1)

	// The router reboots: the command says so and reconnects by itself.
	srv.CloseConns()
	out.waitFor(t, "connection lost", 1)
	out.waitFor(t, "reconnected to "+srv.Addr(), 1)
	if err := srv.WaitConn(wait); err != nil {
		t.Fatal(err)
	}
	srv.Send("23.11.26 10:15:09;DISCONNECT;0;0;")
	out.waitFor(t, "23.11.26 10:15:09;DISCONNECT;0;0;\n", 1)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fritzmonitor returned %v, want nil on ^C", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fritzmonitor did not stop")
	}
	got := out.String()
	for _, want := range []string{"switchboard ", "start fritzmonitor on address: " + srv.Addr(), "socket-timeout: 100ms", "healthcheck-timeout: 1s"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestFritzmonitorBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-p", "99999"}, {"-x"}, {"extra"}} {
		if err := fritzmonitor(context.Background(), args, new(bytes.Buffer), new(bytes.Buffer)); err == nil {
			t.Errorf("fritzmonitor %v succeeded", args)
		}
	}
}
