package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// acceptStream upgrades r to a WebSocket that counts as one of the
// server's streams; end must be called when it is over. ok is false when
// the upgrade was refused (Accept has answered) or the server is shutting
// down (the socket is then closed at once with 1001 going away).
func (s *Server) acceptStream(w http.ResponseWriter, r *http.Request, what string) (conn *websocket.Conn, end func(), ok bool) {
	h := &hijackRecorder{ResponseWriter: w}
	conn, err := websocket.Accept(h, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins})
	if err != nil {
		// Accept has answered (403 for a foreign origin).
		s.log.Info(what+" upgrade refused", "remote", clientIP(r), "origin", r.Header.Get("Origin"), "err", err)
		return nil, nil, false
	}
	if !s.startStream(h) {
		_ = conn.Close(websocket.StatusGoingAway, closeShutdown)
		return nil, nil, false
	}
	return conn, func() { s.endStream(h) }, true
}

// untilStop returns ctx, ended as well when the shutdown tells the
// streams to end. stop releases it and waits for its watcher.
func (s *Server) untilStop(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		cancel()
		<-done
	}
}

// hijackRecorder keeps the connection a WebSocket upgrade takes over, so
// that a forced shutdown can close it: http.Server forgets hijacked
// connections, and a stream stuck in a close handshake with a page that
// does not answer would otherwise hold the process for seconds.
type hijackRecorder struct {
	http.ResponseWriter
	mu   sync.Mutex
	conn net.Conn
}

// Hijack takes the connection over and remembers it.
func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err == nil {
		h.mu.Lock()
		h.conn = c
		h.mu.Unlock()
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// closeNow closes the connection without a goodbye: under TLS the socket
// beneath, since tls.Conn.Close may wait to send its close_notify.
func (h *hijackRecorder) closeNow() {
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	if c == nil {
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	_ = c.Close()
}

// onceCloseListener lets StopAccepting close the listener early without
// http.Server.Shutdown reporting the second close as an error.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

// Close closes the listener once and returns that close's error.
func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
