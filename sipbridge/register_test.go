package sipbridge

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

func TestRefreshDelay(t *testing.T) {
	tests := []struct {
		granted  time.Duration
		min, max time.Duration
	}{
		{600 * time.Second, 300 * time.Second, 480 * time.Second},
		{60 * time.Second, 30 * time.Second, 48 * time.Second},
		{12 * time.Second, 6 * time.Second, 7 * time.Second},
		{2 * time.Second, time.Second, 1600 * time.Millisecond},
		{0, time.Second, time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if d := refreshDelay(tt.granted); d < tt.min || d > tt.max {
				t.Fatalf("refreshDelay(%v) = %v, want %v..%v", tt.granted, d, tt.min, tt.max)
			}
		}
	}
}

func TestClassifyRegister(t *testing.T) {
	tests := []struct {
		code      int
		reason    string
		authTried bool
		msg       string
		permanent bool
	}{
		{401, "Unauthorized", true, "401 Unauthorized: wrong user name or password", true},
		{407, "Proxy Authentication Required", true, "407 Proxy Authentication Required: wrong user name or password", true},
		{403, "Forbidden", false, "403 Forbidden: the registrar refuses this account", true},
		{404, "Not Found", false, "404 Not Found: unknown user at this registrar", true},
		{503, "Service Unavailable", false, "503 Service Unavailable", false},
		{408, "Request Timeout", false, "408 Request Timeout", false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			res := sip.NewResponse(tt.code, tt.reason)
			e := classifyRegister(res, tt.authTried)
			if e.Msg != tt.msg || e.Permanent != tt.permanent || e.Status != tt.code {
				t.Fatalf("got %+v, want %q permanent=%v", e, tt.msg, tt.permanent)
			}
		})
	}
}

// fakeRegistrar is an in-process sipgo registrar for what kamailio cannot
// be made to do: 423 Interval Too Brief and chosen failures.
type fakeRegistrar struct {
	addr string
	mu   sync.Mutex
	// asked lists the Expires of every REGISTER per user.
	asked map[string][]int
	// contacts lists the Contact of every REGISTER per user.
	contacts map[string][]string
	got      chan string
}

func startFakeRegistrar(t *testing.T, minExpires int, grant int) *fakeRegistrar {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(testLogger(t))),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(testLogger(t))))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRegistrar{addr: conn.LocalAddr().String(), asked: map[string][]int{}, contacts: map[string][]string{}, got: make(chan string, 100)}
	// Calls ring until cancelled, for shutdown tests.
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		<-tx.Done()
	})
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		user := req.To().Address.User
		exp := -1
		if h := req.GetHeader("Expires"); h != nil {
			exp, _ = strconv.Atoi(strings.TrimSpace(h.Value()))
		}
		contact := ""
		if c := req.Contact(); c != nil {
			contact = c.Value()
		}
		f.mu.Lock()
		f.asked[user] = append(f.asked[user], exp)
		f.contacts[user] = append(f.contacts[user], contact)
		f.mu.Unlock()
		select {
		case f.got <- user:
		default:
		}
		var res *sip.Response
		switch {
		case user == "deaf" && exp == 0:
			// Never answers an un-REGISTER, for forced shutdowns.
			return
		case user == "forbidden":
			res = sip.NewResponseFromRequest(req, 403, "Forbidden", nil)
		case user == "no-outbound" && strings.Contains(contact, "reg-id="):
			// RFC 5626 section 6: a registrar behind a first hop that does
			// not do outbound refuses a reg-id.
			res = sip.NewResponseFromRequest(req, 439, "First Hop Lacks Outbound Support", nil)
		case exp > 0 && exp < minExpires:
			// RFC 3261 section 10.3 step 7.
			res = sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(minExpires)))
		default:
			res = sip.NewResponseFromRequest(req, 200, "OK", nil)
			g := min(exp, grant)
			c := req.Contact().Clone()
			c.Params = sip.NewParams()
			c.Params.Add("expires", strconv.Itoa(g))
			res.AppendHeader(c)
		}
		_ = tx.Respond(res)
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		srv.Close()
		ua.Close()
		conn.Close()
		<-done
	})
	return f
}

func (f *fakeRegistrar) expires(user string) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.asked[user]...)
}

// waitRegisters waits for n REGISTERs of user.
func (f *fakeRegistrar) waitRegisters(t *testing.T, user string, n int, d time.Duration) []int {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		if got := f.expires(user); len(got) >= n {
			return got
		}
		select {
		case <-f.got:
		case <-timer.C:
			t.Fatalf("%s: %d REGISTERs in %v, want %d: %v", user, len(f.expires(user)), d, n, f.expires(user))
		}
	}
}

func TestRegisterIntervalTooBriefAndRefresh(t *testing.T) {
	reg := startFakeRegistrar(t, 3, 3)
	r := startBridge(t, Config{Accounts: []AccountConfig{{Name: "a", Registrar: reg.addr, Username: "alice", Password: "x", Domain: "127.0.0.1", Expires: 1}}}, nil)
	r.sink.waitStatus(t, "a", monitor.LinkRegistered, 10*time.Second)
	// 1 s is too brief: the second REGISTER asks for Min-Expires, and the
	// granted 3 s are refreshed within 1.5-2.4 s.
	got := reg.waitRegisters(t, "alice", 3, 10*time.Second)
	if got[0] != 1 || got[1] != 3 || got[2] != 3 {
		t.Fatalf("expires asked = %v, want [1 3 3 …]", got)
	}
	r.stop(t)
	got = reg.expires("alice")
	if got[len(got)-1] != 0 {
		t.Fatalf("last REGISTER expires %d, want 0 (un-REGISTER): %v", got[len(got)-1], got)
	}
}

// TestRegisterWithoutRegIDAfter439: a registrar that refuses reg-id gets
// the next REGISTER at once with the instance alone, and the account
// registers; the un-REGISTER names the same Contact.
func TestRegisterWithoutRegIDAfter439(t *testing.T) {
	reg := startFakeRegistrar(t, 1, 60)
	id := NodeInstanceID("a")
	r := startBridge(t, Config{InstanceID: id, RetryMin: time.Minute, RetryMax: time.Minute, Accounts: []AccountConfig{{Name: "a", Registrar: reg.addr, Username: "no-outbound", Password: "x", Domain: "127.0.0.1"}}}, nil)
	r.sink.waitStatus(t, "a", monitor.LinkRegistered, 10*time.Second)
	r.stop(t)
	reg.mu.Lock()
	contacts := append([]string(nil), reg.contacts["no-outbound"]...)
	reg.mu.Unlock()
	inst := `+sip.instance="<urn:uuid:` + id + `>"`
	if len(contacts) != 3 || !strings.Contains(contacts[0], "reg-id=1") || strings.Contains(contacts[1], "reg-id") || contacts[2] != contacts[1] {
		t.Fatalf("contacts %q, want reg-id, then without it, and the un-REGISTER the same", contacts)
	}
	for _, c := range contacts {
		if !strings.Contains(c, inst) {
			t.Errorf("contact %q lacks %s", c, inst)
		}
	}
}

func TestRegisterForbidden(t *testing.T) {
	reg := startFakeRegistrar(t, 1, 60)
	r := startBridge(t, Config{RetryMin: time.Minute, RetryMax: time.Minute, Accounts: []AccountConfig{{Name: "a", Registrar: reg.addr, Username: "forbidden", Password: "x", Domain: "127.0.0.1"}}}, nil)
	st := r.sink.waitStatus(t, "a", monitor.LinkFailed, 10*time.Second)
	if st.Error != "403 Forbidden: the registrar refuses this account" {
		t.Fatalf("error %q", st.Error)
	}
	r.stop(t)
	// Never registered: no un-REGISTER.
	if got := reg.expires("forbidden"); len(got) != 1 {
		t.Fatalf("REGISTERs %v, want exactly one", got)
	}
}
