package web

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// eventConn is the connection under an /events socket. The stream writes
// its data frames itself, all that have piled up for the subscriber in
// one write (a loopback or LAN write costs about as much kernel time for
// one 300-byte frame as for forty), while the WebSocket library keeps
// reading and answering control frames. Both write whole frames under mu,
// so frames never interleave.
type eventConn struct {
	net.Conn
	raw syscall.RawConn // nil when the connection is not a socket

	mu sync.Mutex
	// cut is set when a write stopped inside a frame (its deadline
	// passed): nothing may follow, not even a close frame.
	cut bool
}

var errFrameCut = errors.New("events socket: a frame was cut short; closing")

func newEventConn(c net.Conn) *eventConn {
	ec := &eventConn{Conn: c}
	if sc, ok := socketOf(c).(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			ec.raw = raw
		}
	}
	return ec
}

// socketOf returns the connection beneath the server's wrappers (TLS,
// the connection caps), where the socket options are.
func socketOf(c net.Conn) net.Conn {
	for {
		switch w := c.(type) {
		case interface{ NetConn() net.Conn }:
			c = w.NetConn()
		case *capConn:
			c = w.Conn
		default:
			return c
		}
	}
}

// Write is the WebSocket library's path: the 101 answer's remainder,
// pongs, pings and the close frame, each a whole frame.
func (c *eventConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return 0, errFrameCut
	}
	return c.Conn.Write(p)
}

// writeFrames writes b, whole frames, by deadline.
func (c *eventConn) writeFrames(b []byte, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return errFrameCut
	}
	_ = c.Conn.SetWriteDeadline(deadline)
	n, err := c.Conn.Write(b)
	_ = c.Conn.SetWriteDeadline(time.Time{})
	if err != nil && n > 0 && n < len(b) {
		c.cut = true
	}
	return err
}

// appendTextFrame appends p as one unmasked, final text frame (RFC 6455
// section 5.2: a server's frames are not masked).
func appendTextFrame(dst, p []byte) []byte {
	n := uint64(len(p))
	switch {
	case n < 126:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, 0x81, 126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 0x81, 127), n)
	}
	return append(dst, p...)
}
