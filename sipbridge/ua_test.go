package sipbridge

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// takenTCPPort holds a loopback TCP port, for the test's life, whose UDP
// twin is free: the collision a kernel-chosen UDP port can run into.
func takenTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			l.Close()
			continue
		}
		u.Close()
		t.Cleanup(func() { l.Close() })
		return port
	}
	t.Fatal("no TCP port with a free UDP twin")
	return 0
}

// collidingUDP stands in for the kernel's choice of UDP port: its first
// collisions calls bind the port whose TCP twin is taken, whatever was
// asked; later calls bind what was asked.
type collidingUDP struct {
	port       int
	collisions int

	mu    sync.Mutex
	calls int
}

func (f *collidingUDP) listen(ctx context.Context, network, address string) (net.PacketConn, error) {
	f.mu.Lock()
	f.calls++
	collide := f.calls <= f.collisions
	f.mu.Unlock()
	if collide {
		address = net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port))
	}
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, network, address)
}

func (f *collidingUDP) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// TestListenSIP: with listen port 0, a UDP port whose TCP twin is taken
// is given up for a fresh one (the flake of TestRegisterKamailio/tcp,
// "bind: address already in use"); when every try collides, or the port
// is configured, the error comes back, and no socket is left open.
func TestListenSIP(t *testing.T) {
	tests := []struct {
		name       string
		fixed      bool // listen on the taken port itself instead of 0
		collisions int
		wantCalls  int
		wantErr    bool
	}{
		{name: "free port", wantCalls: 1},
		{name: "kernel's port taken for TCP: a fresh port", collisions: 1, wantCalls: 2},
		// Leaves three tries of its own: on a busy machine a fresh port's
		// TCP twin is sometimes really taken too.
		{name: "taken several times", collisions: listenAttempts - 3, wantCalls: listenAttempts - 2},
		{name: "taken every time: the error after the last try", collisions: listenAttempts + 5, wantCalls: listenAttempts, wantErr: true},
		{name: "configured port taken: the error at once", fixed: true, wantCalls: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			taken := takenTCPPort(t)
			f := &collidingUDP{port: taken, collisions: tt.collisions}
			port := "0"
			if tt.fixed {
				port = strconv.Itoa(taken)
			}
			udpC, tcpL, err := listenSIP(t.Context(), "127.0.0.1", port, f.listen)
			// A real collision (the kernel's next port taken for TCP by
			// another socket on this machine) may add attempts after the
			// staged ones, never remove any.
			got := f.count()
			switch {
			case got < tt.wantCalls, (tt.wantErr || tt.fixed) && got != tt.wantCalls, got > listenAttempts:
				t.Errorf("UDP sockets opened = %d, want %d", got, tt.wantCalls)
			case got > tt.wantCalls:
				t.Logf("UDP sockets opened = %d (%d staged): the kernel's port was taken for TCP here too", got, tt.wantCalls)
			}
			if tt.wantErr {
				if !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatalf("err = %v, want EADDRINUSE", err)
				}
				// Every UDP socket opened on the way was closed again.
				u, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken)))
				if err != nil {
					t.Fatalf("UDP port %d still held after the error: %v", taken, err)
				}
				u.Close()
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer udpC.Close()
			defer tcpL.Close()
			up, tp := udpC.LocalAddr().(*net.UDPAddr).Port, tcpL.Addr().(*net.TCPAddr).Port
			if up != tp || up == taken {
				t.Errorf("listening on UDP %d and TCP %d, want one port other than the taken %d", up, tp, taken)
			}
		})
	}
}

func TestListenSIPCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f := &collidingUDP{}
	if _, _, err := listenSIP(ctx, "127.0.0.1", "0", f.listen); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if f.count() != 0 {
		t.Errorf("%d sockets opened after cancel", f.count())
	}
}
