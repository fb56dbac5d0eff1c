package web

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// capListener caps the open connections in total and per client address
// (addrKey: IPv6 by /64). A connection over a cap is closed as soon as it
// is accepted, before a byte is read: whoever holds too many gets no
// more, everyone else is served. Trusted proxies carry many clients, so
// only the total caps them.
type capListener struct {
	net.Listener
	total, perAddr int
	exempt         proxySet
	m              *webMetrics
	log            *slog.Logger

	mu     sync.Mutex
	open   int
	byAddr map[string]int
}

func newCapListener(ln net.Listener, l Limits, exempt proxySet, m *webMetrics, log *slog.Logger) *capListener {
	return &capListener{Listener: ln, total: l.MaxConnections, perAddr: l.MaxConnectionsPerAddress, exempt: exempt, m: m, log: log, byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps; those over a cap
// are closed and counted on the way.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var a netip.Addr
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			a = ap.Addr().Unmap()
		}
		key, exempt := addrKey(a), l.exempt.contains(a)
		l.mu.Lock()
		refused := ""
		switch {
		case l.open >= l.total:
			refused = "total"
		case !exempt && l.byAddr[key] >= l.perAddr:
			refused = "address"
		default:
			l.open++
			l.byAddr[key]++
		}
		l.mu.Unlock()
		if refused != "" {
			// Counted before the close, which the client may see at once.
			l.m.connsRefused.WithLabelValues(refused).Inc()
			_ = c.Close()
			l.log.Debug("connection refused: cap reached", "limit", refused, "remote", a)
			continue
		}
		l.m.conns.Inc()
		return &capConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *capListener) release(key string) {
	l.mu.Lock()
	l.open--
	if l.byAddr[key]--; l.byAddr[key] <= 0 {
		delete(l.byAddr, key)
	}
	l.mu.Unlock()
	l.m.conns.Dec()
}

// capConn gives its place back once, when it is closed.
type capConn struct {
	net.Conn
	l    *capListener
	key  string
	once sync.Once
}

// Close closes the connection and frees its place under the caps.
func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// CloseWrite half-closes a TCP connection, as net/http does before it
// closes one that has an unread request body.
func (c *capConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
