package siptest

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSippScenarios proves the sipp scenarios against kamailio: a user
// registers, a caller with proxy auth reaches an answering UAS that rings
// first, and a phone calling a UAS that answers 486 or 603 sees that
// status; a wrong password is refused.
func TestSippScenarios(t *testing.T) {
	k := StartKamailio(t, KamailioOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	t.Run("wrong password", func(t *testing.T) {
		err := RunSipp(ctx, t, "register.xml", k.Addr(), "-s", "1000", "-au", "1000", "-ap", "nope")
		if !errors.Is(err, ErrScenarioFailed) {
			t.Fatalf("err = %v, want %v", err, ErrScenarioFailed)
		}
	})

	t.Run("delayed answer", func(t *testing.T) {
		uas := StartSippUAS(ctx, t, SippUASOptions{Registrar: k.Addr(), User: "1003", Delay: 300 * time.Millisecond})
		if err := RunSipp(ctx, t, "uac-invite-auth.xml", k.Addr(),
			"-key", "caller", "1000", "-au", "1000", "-ap", "pw1000", "-s", "1003"); err != nil {
			t.Fatal(err)
		}
		if err := uas.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	})

	phone := StartBaresip(t, BaresipOptions{User: "1001", Registrar: k.Addr()})
	if err := phone.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	rejects := []struct {
		user   string
		status int
		want   string
	}{
		{"1004", 486, "486 Busy Here"},
		{"1005", 603, "603 Decline"},
	}
	for _, tt := range rejects {
		t.Run(tt.want, func(t *testing.T) {
			uas := StartSippUAS(ctx, t, SippUASOptions{Registrar: k.Addr(), User: tt.user, Status: tt.status})
			if err := phone.Dial(ctx, "sip:"+tt.user+"@"+k.Addr()); err != nil {
				t.Fatal(err)
			}
			ev, err := phone.WaitEvent(ctx, "CALL_CLOSED")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ev.Param, tt.want) {
				t.Errorf("call closed with %q, want %q", ev.Param, tt.want)
			}
			if err := uas.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBaresipWrongPassword(t *testing.T) {
	k := StartKamailio(t, KamailioOptions{})
	phone := StartBaresip(t, BaresipOptions{User: "1002", Password: "wrong", Registrar: k.Addr()})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := phone.WaitRegistered(ctx)
	if !errors.Is(err, ErrRegistration) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want %v with 401", err, ErrRegistration)
	}
}

func TestPortInTable(t *testing.T) {
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.LocalAddr().(*net.UDPAddr).Port
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	tport := tl.Addr().(*net.TCPAddr).Port
	tests := []struct {
		table string
		port  int
		want  bool
	}{
		{"/proc/net/udp", port, true},
		{"/proc/net/tcp", tport, true},
		{"/proc/net/udp", tport, false},
	}
	for _, tt := range tests {
		t.Run(tt.table+":"+strconv.Itoa(tt.port), func(t *testing.T) {
			got, err := portInTable(tt.table, tt.port)
			if err != nil {
				t.Skipf("no socket table: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScenarioPath(t *testing.T) {
	if got := ScenarioPath("uas-busy.xml"); got != filepath.Join(TestbedDir(), "sipp", "uas-busy.xml") {
		t.Errorf("ScenarioPath(bare) = %q", got)
	}
	if got := ScenarioPath("/x/y.xml"); got != "/x/y.xml" {
		t.Errorf("ScenarioPath(path) = %q", got)
	}
}
