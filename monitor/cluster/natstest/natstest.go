// Package natstest runs a real NATS server with JetStream inside the test
// process, on 127.0.0.1 with a port of its own and its store in a
// temporary directory, and can stop and start it again on the same port
// with the same store, as an outage does.
package natstest

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is one NATS server for a test.
type Server struct {
	tb       testing.TB
	storeDir string
	port     int

	mu  sync.Mutex
	srv *server.Server
}

// Start starts a server with JetStream and stops it when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, storeDir: tb.TempDir()}
	s.run(-1)
	tb.Cleanup(s.Stop)
	return s
}

// URL is the server's client URL, nats://127.0.0.1:PORT; it stays the
// same across Restart.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Stop shuts the server down and waits until it is gone. It is
// idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart stops the server and starts it again on the same port, with
// the same store: streams and buckets survive, connections do not.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.run(s.port)
}

// StartAgain starts a stopped server on its port and store.
func (s *Server) StartAgain() {
	s.tb.Helper()
	s.run(s.port)
}

func (s *Server) run(port int) {
	s.tb.Helper()
	opts := &server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   s.storeDir,
		NoLog:      true,
		NoSigs:     true,
	}
	var (
		srv *server.Server
		err error
	)
	// The port a stopped server held can take a moment to be free again.
	for range 50 {
		srv, err = server.NewServer(opts)
		if err != nil {
			s.tb.Fatalf("natstest: new server: %v", err)
		}
		go srv.Start()
		if srv.ReadyForConnections(10 * time.Second) {
			break
		}
		srv.Shutdown()
		srv.WaitForShutdown()
		srv = nil
		time.Sleep(100 * time.Millisecond)
	}
	if srv == nil {
		s.tb.Fatalf("natstest: the server on port %d did not start", port)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		s.tb.Fatalf("natstest: server address %v is not TCP", srv.Addr())
	}
	s.mu.Lock()
	s.srv = srv
	s.port = addr.Port
	s.mu.Unlock()
}
