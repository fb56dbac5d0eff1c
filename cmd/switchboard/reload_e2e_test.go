package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"
)

// TestServeSIGHUPSignsOutChangedUsers runs the binary, changes one user's
// password and removes the token in its configuration file and sends
// SIGHUP: that user's open /events socket is closed at once with 1008, so
// is the token's, the new password works, and the other user's socket
// stays.
func TestServeSIGHUPSignsOutChangedUsers(t *testing.T) {
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	annaOld, vera := hash("old password"), hash("vera's password")
	config := func(anna, tokens string) string {
		return fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
users:
  - name: anna
    password_hash: %q
    role: admin
  - name: vera
    password_hash: %q
    role: viewer
%s`, t.TempDir(), anna, vera, tokens)
	}
	tokens := fmt.Sprintf("tokens:\n  - name: hall\n    token: %s\n", testToken)
	p := startSwitchboard(t, config(annaOld, tokens))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	open := func(h http.Header) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.url, "http")+"events", &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		t.Cleanup(func() { _ = c.CloseNow() })
		if _, _, err := c.Read(ctx); err != nil { // the snapshot
			t.Fatal(err)
		}
		return c
	}
	cookies := func(c *http.Client) http.Header {
		u, _ := url.Parse(p.url)
		h := http.Header{}
		for _, ck := range c.Jar.Cookies(u) {
			h.Add("Cookie", ck.String())
		}
		return h
	}
	annaConn := open(cookies(signIn(t, ctx, p.url, "anna", "old password")))
	veraConn := open(cookies(signIn(t, ctx, p.url, "vera", "vera's password")))
	tokenConn := open(http.Header{"Authorization": {"Bearer " + testToken}})

	if err := os.WriteFile(p.config, []byte(config(hash("new password"), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	for name, c := range map[string]*websocket.Conn{"anna": annaConn, "the token": tokenConn} {
		dl, stop := context.WithTimeout(ctx, 5*time.Second)
		var err error
		for err == nil {
			_, _, err = c.Read(dl)
		}
		stop()
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation {
			t.Errorf("%s's socket after SIGHUP: %v, want closed with 1008\n%s", name, err, p.log())
		}
	}
	if _, err := p.waitLog(ctx, "reloaded users and tokens on SIGHUP"); err != nil {
		t.Fatal(err)
	}
	signIn(t, ctx, p.url, "anna", "new password")
	go func() {
		for {
			if _, _, err := veraConn.Read(ctx); err != nil {
				return
			}
		}
	}()
	if err := veraConn.Ping(ctx); err != nil {
		t.Errorf("vera's socket: %v, want it open", err)
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}
