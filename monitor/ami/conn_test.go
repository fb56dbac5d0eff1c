package ami_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

func dial(t *testing.T, srv *amitest.Server, login ami.Login, onEvent func(ami.Message)) (*ami.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ami.Handshake(ctx, nc, login, onEvent)
	if err != nil {
		nc.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name    string
		login   ami.Login
		wantErr error
	}{
		{"plain", ami.Login{Username: "admin", Secret: "s3cret"}, nil},
		{"md5 challenge", ami.Login{Username: "admin", Secret: "s3cret", MD5: true}, nil},
		{"wrong secret", ami.Login{Username: "admin", Secret: "nope"}, ami.ErrAuth},
		{"wrong secret md5", ami.Login{Username: "admin", Secret: "nope", MD5: true}, ami.ErrAuth},
		{"wrong user", ami.Login{Username: "root", Secret: "s3cret"}, ami.ErrAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := amitest.New(t, "admin", "s3cret")
			c, err := dial(t, srv, tc.login, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if c.Version() != "5.0.1" {
				t.Errorf("version = %q", c.Version())
			}
			if tc.login.MD5 {
				for _, a := range srv.Actions() {
					if a.Get("Secret") != "" {
						t.Fatal("secret sent in clear with MD5 login")
					}
				}
			}
		})
	}
}

func TestActionsEventsAndLists(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	var mu sync.Mutex
	var events []string
	got := make(chan struct{}, 10)
	c, err := dial(t, srv, ami.Login{Username: "admin", Secret: "pw"}, func(m ami.Message) {
		mu.Lock()
		events = append(events, m.Event())
		mu.Unlock()
		got <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.SetChannels(
		ami.M("Channel", "SIP/201-00000001", "Uniqueid", "1.1", "Linkedid", "1.1"),
		ami.M("Channel", "SIP/202-00000002", "Uniqueid", "1.2", "Linkedid", "1.1"),
	)
	list, err := c.ListAction(ctx, ami.M("Action", "CoreShowChannels"))
	if err != nil || len(list) != 2 || list[1].Get("Uniqueid") != "1.2" {
		t.Fatalf("CoreShowChannels = %v, %v", list, err)
	}
	srv.Push(ami.M("Event", "Newchannel", "Uniqueid", "1.3"))
	for {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("event not delivered")
		}
		mu.Lock()
		n := len(events)
		last := ""
		if n > 0 {
			last = events[n-1]
		}
		mu.Unlock()
		if last == "Newchannel" {
			break
		}
	}
	if _, err := c.Action(ctx, ami.M("Action", "Hangup", "Channel", "SIP/201-00000001")); err != nil {
		t.Fatal(err)
	}
	acts := srv.Actions()
	if last := acts[len(acts)-1]; last.Get("Action") != "Hangup" || last.Get("ActionID") == "" {
		t.Fatalf("last action = %v", last)
	}
}

func TestSilentManagerTimesOutAndDropEndsConn(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	c, err := dial(t, srv, ami.Login{Username: "admin", Secret: "pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Silent(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping of a silent manager: %v", err)
	}
	// An action in flight when the link drops: its fate is unknown.
	lost := make(chan error, 1)
	go func() { lost <- c.Ping(context.Background()) }()
	wait, waitCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer waitCancel()
	if err := srv.Wait(wait, func() bool {
		n := 0
		for _, a := range srv.Actions() {
			if a.Get("Action") == "Ping" {
				n++
			}
		}
		return n == 2
	}); err != nil {
		t.Fatal(err)
	}
	srv.CloseConns()
	if err := <-lost; !errors.Is(err, monitor.ErrActionLost) {
		t.Fatalf("ping in flight as the link dropped: %v, want ErrActionLost", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("dropped connection not noticed")
	}
	if !errors.Is(c.Err(), ami.ErrClosed) {
		t.Fatalf("Err = %v", c.Err())
	}
	if err := c.Ping(context.Background()); !errors.Is(err, monitor.ErrNotConnected) {
		t.Fatalf("ping on a closed connection: %v, want ErrNotConnected", err)
	}
}

// TestHandshakeEndsWithItsContext: a peer that takes the connection and
// never greets does not hold up a caller whose ctx has ended.
func TestHandshakeEndsWithItsContext(t *testing.T) {
	mute := monitortest.NewServer(t, nil)
	mute.Serve(func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	nc, err := net.Dial("tcp", mute.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := ami.Handshake(ctx, nc, ami.Login{Username: "admin", Secret: "pw"}, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Handshake = %v, want context.Canceled", err)
		}
	case <-time.After(monitortest.WaitTimeout):
		t.Fatal("Handshake waits for a banner after its ctx ended")
	}
}
