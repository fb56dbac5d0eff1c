package sipbridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// shortExpiryConfig is the testbed's kamailio config with a registrar
// that grants registrations of a few seconds, so a test sees refreshes.
func shortExpiryConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(siptest.TestbedDir(), "kamailio", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), `modparam("usrloc", "db_mode", 0)`,
		`modparam("usrloc", "db_mode", 0)`+"\n"+`modparam("registrar", "min_expires", 1)`+"\n"+`modparam("registrar", "default_expires", 4)`, 1)
	p := filepath.Join(t.TempDir(), "kamailio.cfg")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testAccount(name, user, password, registrar string, expires int) AccountConfig {
	return AccountConfig{Name: name, Registrar: registrar, Username: user, Password: password, Domain: "127.0.0.1", Expires: expires}
}

func TestRegisterKamailio(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) { testRegisterKamailio(t, transport) })
	}
}

func testRegisterKamailio(t *testing.T, transport string) {
	t.Helper()
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	acct := testAccount("office", "1000", "pw1000", kam.Addr(), 60)
	acct.Transport = transport
	r := startBridge(t, Config{Accounts: []AccountConfig{acct}}, nil)
	st := r.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	if st.Type != "sip" || st.Error != "" {
		t.Fatalf("status %+v", st)
	}
	if got := r.Statuses(); len(got) != 1 || got[0].State != monitor.LinkRegistered {
		t.Fatalf("Statuses() = %+v", got)
	}
	// The registrar routes to us: our OPTIONS handler answers.
	if code := probeUser(t, kam.Addr(), "1000"); code != 200 {
		t.Fatalf("probe while registered = %d, want 200", code)
	}
	r.stop(t)
	// Un-REGISTER on shutdown removed the binding.
	if code := probeUser(t, kam.Addr(), "1000"); code != 404 {
		t.Fatalf("probe after shutdown = %d, want 404 (binding removed)", code)
	}
}

func TestRegisterWrongPassword(t *testing.T) {
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	r := startBridge(t, Config{RetryMin: 5 * time.Second, RetryMax: 10 * time.Second,
		Accounts: []AccountConfig{testAccount("office", "1000", "wrong", kam.Addr(), 60)}}, nil)
	st := r.sink.waitStatus(t, "office", monitor.LinkFailed, 15*time.Second)
	if want := "401 Unauthorized: wrong user name or password"; st.Error != want {
		t.Fatalf("error = %q, want %q", st.Error, want)
	}
}

func TestRegisterSurvivesRegistrarRestart(t *testing.T) {
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{Config: shortExpiryConfig(t)})
	r := startBridge(t, Config{
		RetryMin: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond, RegisterTimeout: time.Second,
		Accounts: []AccountConfig{testAccount("office", "1000", "pw1000", kam.Addr(), 4)},
	}, nil)
	r.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	kam.Stop()
	st := r.sink.waitStatus(t, "office", monitor.LinkRetrying, 15*time.Second)
	if !strings.Contains(st.Error, "registrar") {
		t.Fatalf("retrying error = %q", st.Error)
	}
	kam.Restart()
	r.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	if code := probeUser(t, kam.Addr(), "1000"); code != 200 {
		t.Fatalf("probe after restart = %d, want 200", code)
	}
}
