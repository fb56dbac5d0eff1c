package monitortest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"
)

// Server accepts TCP connections on 127.0.0.1 and hands each to a
// protocol's handler on a goroutine of its own; the connection is closed
// and forgotten when the handler returns. Its methods are safe for
// concurrent use; it stops itself when the test ends.
type Server struct {
	tb     testing.TB
	addr   string
	tls    *tls.Config
	handle func(net.Conn)

	// mu guards everything below; changed is closed and replaced on
	// every accepted or lost connection and on Notify.
	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	accepted int
	changed  chan struct{}
	wg       sync.WaitGroup
}

// NewServer listens on 127.0.0.1:0, speaking TLS with conf when conf is
// not nil; Serve starts accepting. It is closed when the test ends.
func NewServer(tb testing.TB, conf *tls.Config) *Server {
	tb.Helper()
	s := &Server{tb: tb, tls: conf, conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	ln, err := s.listen("127.0.0.1:0")
	if err != nil {
		tb.Fatalf("monitortest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.ln = ln
	tb.Cleanup(s.Close)
	return s
}

// Serve starts accepting connections, each served by handle on a
// goroutine of its own. It is separate from NewServer so that a
// protocol's handler may use the Server it is given: the accepting
// goroutine starts after the caller stored it. Call it once.
func (s *Server) Serve(handle func(net.Conn)) {
	s.mu.Lock()
	s.handle = handle
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		s.serve(ln)
	}
}

func (s *Server) listen(addr string) (net.Listener, error) {
	if s.tls != nil {
		return tls.Listen("tcp", addr, s.tls)
	}
	return new(net.ListenConfig).Listen(context.Background(), "tcp", addr)
}

// Addr returns the host:port clients dial; it stays the same across Stop
// and Restart.
func (s *Server) Addr() string { return s.addr }

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.ln != ln {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.accepted++
			s.notifyLocked()
			s.wg.Add(1)
			s.mu.Unlock()
			go s.run(c)
		}
	}()
}

func (s *Server) run(c net.Conn) {
	defer s.wg.Done()
	s.handle(c)
	c.Close()
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.notifyLocked()
	}
	s.mu.Unlock()
}

// Accepted returns how many connections the server has accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Conns returns how many clients are connected now.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConn waits until at least one client is connected, or ctx ends.
func (s *Server) WaitConn(ctx context.Context) error {
	return s.Wait(ctx, func() bool { return s.Conns() > 0 })
}

// WaitAccepted waits until the server has accepted more than n
// connections in total (n is an earlier Accepted) and returns the total.
func (s *Server) WaitAccepted(ctx context.Context, n int) (int, error) {
	var got int
	err := s.Wait(ctx, func() bool { got = s.Accepted(); return got > n })
	return got, err
}

// Wait waits until cond holds or ctx ends. cond is checked again after
// every change of the connections and every Notify; it runs without the
// server's lock, so it may call the server and take a protocol's own.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("monitortest: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Notify wakes every Wait: a protocol's own state changed.
func (s *Server) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifyLocked()
}

// notifyLocked wakes waiters; s.mu held on entry.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WriteAll writes b to every connected client and returns how many got
// it.
func (s *Server) WriteAll(b []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if _, err := c.Write(b); err == nil {
			n++
		}
	}
	return n
}

// CloseConns drops every client connection without a word, as a crash
// or reboot of the peer does, and keeps accepting new ones.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
	s.notifyLocked()
}

// Hang closes the listener but leaves the open connections open: a peer
// that died without closing anything. New connections are refused.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
}

// Stop closes the listener and every connection: connecting is refused
// until Restart.
func (s *Server) Stop() {
	s.Hang()
	s.CloseConns()
}

// Restart listens again on the same port after Stop or Hang.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	running := s.ln != nil
	s.mu.Unlock()
	if running {
		return
	}
	ln, err := s.listen(s.addr)
	if err != nil {
		s.tb.Fatalf("monitortest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Close stops the server and waits for its goroutines. It is idempotent.
func (s *Server) Close() {
	s.Stop()
	s.wg.Wait()
}
