package rawudp

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"
)

func listen(t *testing.T, network, addr string) *Conn {
	t.Helper()
	u, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	c := New(u)
	if runtime.GOOS == "linux" && !c.raw() {
		t.Fatal("no raw I/O")
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestRoundTrip: datagrams go both ways between two wrapped sockets and
// between a wrapped and a plain one, with the sender's address, on IPv4,
// IPv6 and an IPv4 address given to a dual-stack socket; an empty
// datagram is a datagram.
func TestRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name, network, a, b string
		to                  func(netip.AddrPort) netip.AddrPort
	}{
		{"ipv4", "udp4", "127.0.0.1:0", "127.0.0.1:0", nil},
		{"ipv6", "udp6", "[::1]:0", "[::1]:0", nil},
		{"ipv4-mapped to an ipv4 socket", "udp4", "127.0.0.1:0", "127.0.0.1:0", func(ap netip.AddrPort) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
		}},
		{"ipv4 from a dual-stack socket", "udp", "[::]:0", "127.0.0.1:0", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := listen(t, tt.network, tt.a)
			b := listen(t, "udp", tt.b)
			bAddr := b.LocalAddr().(*net.UDPAddr).AddrPort()
			if tt.to != nil {
				bAddr = tt.to(bAddr)
			}
			for _, msg := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{0x80}, 1200)} {
				if n, err := a.WriteToUDPAddrPort(msg, bAddr); err != nil || n != len(msg) {
					t.Fatalf("write %d bytes: %d, %v", len(msg), n, err)
				}
				buf := make([]byte, 1500)
				_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := b.ReadFromUDPAddrPort(buf)
				if err != nil || !bytes.Equal(buf[:n], msg) {
					t.Fatalf("read: %q, %v; want %d bytes", buf[:n], err, len(msg))
				}
				if from.Port() != a.LocalAddr().(*net.UDPAddr).AddrPort().Port() || !from.Addr().Unmap().IsLoopback() {
					t.Fatalf("from %s, want the sender %s", from, a.LocalAddr())
				}
				// And back to where it came from.
				if _, err := b.WriteToUDPAddrPort(msg, from); err != nil {
					t.Fatalf("write back: %v", err)
				}
				_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, _, err := a.ReadFromAddrPort(buf); err != nil || n != len(msg) {
					t.Fatalf("read back: %d, %v", n, err)
				}
			}
		})
	}
}

// TestErrors: a closed socket and a passed deadline give the standard
// library's errors, a blocked read ends when the socket is closed, and an
// IPv6 address cannot be sent from an IPv4 socket.
func TestErrors(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0")
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := c.ReadFromUDPAddrPort(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	if _, err := c.WriteToUDPAddrPort(buf, netip.MustParseAddrPort("[::1]:9")); err == nil {
		t.Fatal("an IPv6 address from an IPv4 socket: no error")
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFromUDPAddrPort(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the blocked read")
	}
	if _, err := c.WriteToUDPAddrPort(buf, netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v, want net.ErrClosed", err)
	}
}

// TestNoAllocs: a datagram written and read costs no allocation.
func TestNoAllocs(t *testing.T) {
	a := listen(t, "udp4", "127.0.0.1:0")
	b := listen(t, "udp4", "127.0.0.1:0")
	to := b.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := make([]byte, 172)
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := a.WriteToUDPAddrPort(msg, to); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per datagram, want 0", allocs)
	}
}
