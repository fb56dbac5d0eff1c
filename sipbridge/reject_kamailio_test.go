package sipbridge

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// sippArgs runs the testbed scenario file with args and returns the
// command, not yet started.
func sippCmd(ctx context.Context, scenario string, args ...string) *exec.Cmd {
	full := append([]string{"-sf", filepath.Join(siptest.TestbedDir(), "sipp", scenario)}, args...)
	full = append(full, "-nostdin", "-m", "1", "-i", "127.0.0.1", "-t", "u1")
	return exec.CommandContext(ctx, "sipp", full...)
}

func TestOutgoingCallRejected(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "sipp")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	br := startBridge(t, Config{Accounts: []AccountConfig{testAccount("office", "1000", "pw1000", kam.Addr(), 60)}}, nil)
	br.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	tests := []struct {
		scenario, user string
		status         int
		reason         monitor.Reason
		text           string
	}{
		{"uas-busy.xml", "1002", 486, monitor.ReasonBusy, "Busy"},
		{"uas-decline.xml", "1003", 603, monitor.ReasonRejected, "Declined"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			port := strconv.Itoa(siptest.FreePort(t))
			reg := sippCmd(ctx, "register.xml", kam.Addr(), "-p", port, "-s", tt.user, "-au", tt.user, "-ap", siptest.Password(tt.user))
			reg.Dir = t.TempDir()
			if out, err := reg.CombinedOutput(); err != nil {
				t.Fatalf("sipp register: %v\n%s", err, out)
			}
			uas := sippCmd(ctx, tt.scenario, "-p", port, "-d", "200")
			uas.Dir = t.TempDir()
			if err := uas.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- uas.Wait() }()
			c, err := br.Dial(ctx, "office", tt.user, []Codec{CodecPCMU})
			if err != nil {
				t.Fatal(err)
			}
			last := drain(t, c)
			if last.Reason != tt.reason || last.Status != tt.status || !strings.HasPrefix(last.Text, tt.text) {
				t.Errorf("ended %+v, want %s %d %q…", last, tt.reason, tt.status, tt.text)
			}
			if err := <-exited; err != nil {
				t.Errorf("sipp %s: %v", tt.scenario, err)
			}
		})
	}
}

func TestIncomingCallRejected(t *testing.T) {
	calls := make(chan *Call, 1)
	bed := newCallBed(t, false, func(c *Call) { calls <- c })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bed.phone.Dial(ctx, "sip:1000@"+bed.kam.Addr()); err != nil {
		t.Fatal(err)
	}
	var c *Call
	select {
	case c = <-calls:
	case <-ctx.Done():
		t.Fatal("no incoming call")
	}
	if err := c.Reject(ctx, 486); err != nil {
		t.Fatal(err)
	}
	if last := drain(t, c); last.Reason != monitor.ReasonBusy || last.Status != 486 {
		t.Errorf("ended %+v, want busy 486", last)
	}
	ev, err := bed.phone.WaitEvent(ctx, "CALL_CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ev.Param, "486") {
		t.Errorf("phone saw %q, want 486", ev.Param)
	}
}

func TestIncomingCallWithoutHandler(t *testing.T) {
	bed := newCallBed(t, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bed.phone.Dial(ctx, "sip:1000@"+bed.kam.Addr()); err != nil {
		t.Fatal(err)
	}
	ev, err := bed.phone.WaitEvent(ctx, "CALL_CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ev.Param, "480") {
		t.Errorf("phone saw %q, want 480", ev.Param)
	}
}
