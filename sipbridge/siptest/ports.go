package siptest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// portLockDir holds one lock file per handed-out port, so that test
// binaries of different packages running in parallel never hand out the
// same port twice while a test still holds it.
var portLockDir = filepath.Join(os.TempDir(), "switchboard-siptest-ports")

// FreePort returns a port on 127.0.0.1 that is free for both UDP and TCP,
// reserved for t until its cleanup. A SIP peer listens on it for both
// transports.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)
}

// FreePorts returns the first of n consecutive ports on 127.0.0.1 that are
// all free for UDP and TCP, reserved for t until its cleanup. baresip needs
// n=2 for its SIP listener (it opens TLS on port+1); an RTP range needs one
// port per concurrent stream (two with RTCP on port+1).
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	if n < 1 || n > 1000 {
		t.Fatalf("siptest: FreePorts(%d): n out of range 1..1000", n)
	}
	var lastErr error
	for attempt := 0; attempt < 100; attempt++ {
		base, locks, err := reservePorts(n)
		if err != nil {
			lastErr = err
			continue
		}
		t.Cleanup(func() {
			for _, f := range locks {
				_ = f.Close() // closing the file releases its flock
			}
		})
		return base
	}
	t.Fatalf("siptest: no %d free consecutive loopback ports: %v", n, lastErr)
	return 0
}

// Ports are handed out below the kernel's ephemeral range: there no
// outgoing connection of a busy machine (a browser, a load test with
// thousands of sockets) takes one between the check and the test's bind.
const (
	lowestPort       = 10000
	defaultEphemeral = 32768
)

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeral
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return defaultEphemeral
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return defaultEphemeral
	}
	return lo
}

// candidateBase picks where n consecutive ports could start: at random
// below the ephemeral range when it leaves room, else the kernel's choice
// of a free UDP port.
func candidateBase(n int) (int, error) {
	if hi := ephemeralStart() - n; hi > lowestPort {
		return lowestPort + rand.IntN(hi-lowestPort), nil //nolint:gosec // a port to try, not a secret
	}
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, fmt.Errorf("listen udp: %w", err)
	}
	base := probe.LocalAddr().(*net.UDPAddr).Port
	_ = probe.Close()
	return base, nil
}

// reservePorts picks a candidate, checks that it and the n-1 ports after
// it are free for UDP and TCP, and locks each of them.
func reservePorts(n int) (int, []*os.File, error) {
	base, err := candidateBase(n)
	if err != nil {
		return 0, nil, err
	}
	if base+n-1 > 65535 {
		return 0, nil, fmt.Errorf("port %d: range runs past 65535", base)
	}
	if err := os.MkdirAll(portLockDir, 0o777); err != nil { //nolint:gosec // a lock directory every test process shares
		return 0, nil, fmt.Errorf("port lock dir: %w", err)
	}
	locks := make([]*os.File, 0, n)
	release := func() {
		for _, f := range locks {
			_ = f.Close()
		}
	}
	for p := base; p < base+n; p++ {
		f, err := lockPort(p)
		if err != nil {
			release()
			return 0, nil, err
		}
		locks = append(locks, f)
		if err := portFree(p); err != nil {
			release()
			return 0, nil, err
		}
	}
	return base, locks, nil
}

func lockPort(p int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(portLockDir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666) //nolint:gosec // a lock file every test process shares
	if err != nil {
		return nil, fmt.Errorf("port lock %d: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("port %d: reserved by another test", p)
		}
		return nil, fmt.Errorf("port lock %d: %w", p, err)
	}
	return f, nil
}

// portFree reports whether p can be bound on 127.0.0.1 for UDP and TCP.
func portFree(p int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	var lc net.ListenConfig
	u, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		return fmt.Errorf("port %d udp: %w", p, err)
	}
	_ = u.Close()
	l, err := lc.Listen(context.Background(), "tcp4", addr)
	if err != nil {
		return fmt.Errorf("port %d tcp: %w", p, err)
	}
	_ = l.Close()
	return nil
}
