// Package fritztest is a Fritz!Box call monitor for tests: a real TCP
// server on 127.0.0.1 that sends the lines a test gives it to every
// connected client, and can reboot, go away and come back on the same
// port, or go silent.
package fritztest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// Server is a call-monitor stand-in. Its methods are safe for concurrent
// use; it stops itself when the test ends.
type Server struct {
	t    testing.TB
	addr string

	// mu guards everything below; changed is closed and replaced on
	// every accepted or lost connection.

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	accepted int
	changed  chan struct{}
	wg       sync.WaitGroup
}

// New starts a server on 127.0.0.1:0 and stops it at the end of the test.
func New(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fritztest: listen: %v", err)
	}
	s := &Server{t: t, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	s.serve(ln)
	t.Cleanup(s.Close)
	return s
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
			s.mu.Unlock()
			s.wg.Add(1)
			go s.drain(c)
		}
	}()
}

// drain reads (and discards) what a client sends, so a closed client is
// forgotten; a call-monitor client sends nothing.
func (s *Server) drain(c net.Conn) {
	defer s.wg.Done()
	var buf [256]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			break
		}
	}
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.notifyLocked()
	}
	s.mu.Unlock()
	c.Close()
}

// Accepted returns how many connections the server has accepted, health
// checks included.
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
	return s.wait(ctx, func() bool { return len(s.conns) > 0 })
}

// WaitAccepted waits until the server has accepted more than n
// connections in total (n is an earlier Accepted) and returns the total:
// a reconnect or a health-check probe has arrived.
func (s *Server) WaitAccepted(ctx context.Context, n int) (int, error) {
	var got int
	err := s.wait(ctx, func() bool { got = s.accepted; return got > n })
	return got, err
}

// wait waits until cond (run under s.mu) holds or ctx ends.
func (s *Server) wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fritztest: %w", ctx.Err())
		case <-ch:
		}
	}
}

// notifyLocked wakes waiters; s.mu held on entry.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Send writes line, with "\r\n" added unless it ends in "\n", to every
// connected client. It returns how many clients got it.
func (s *Server) Send(line string) int {
	if !strings.HasSuffix(line, "\n") {
		line += "\r\n"
	}
	return s.SendRaw([]byte(line))
}

// SendRaw writes b as it is to every connected client (half a line, two
// lines at once). It returns how many clients got it.
func (s *Server) SendRaw(b []byte) int {
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

// CloseConns closes every client connection, as a router reboot does,
// and keeps accepting new ones.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
	s.notifyLocked()
}

// Stop closes the listener and every connection: connecting is refused
// until Restart.
func (s *Server) Stop() {
	s.Hang()
	s.CloseConns()
}

// Hang closes the listener but leaves the open connections open and
// silent: a router that died without closing anything. Health-check
// probes are refused, while the old socket never says a word.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
}

// Restart listens again on the same port after Stop or Hang.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	running := s.ln != nil
	s.mu.Unlock()
	if running {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("fritztest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Close stops the server and waits for its goroutines. It is idempotent.
func (s *Server) Close() {
	s.Stop()
	s.wg.Wait()
}
