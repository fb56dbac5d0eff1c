package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// streamKind is a WebSocket endpoint of the server.
type streamKind string

const (
	streamEvents streamKind = "events"
	streamPhone  streamKind = "phone"
)

var streamKinds = []streamKind{streamEvents, streamPhone}

// Close reasons the server sends when it ends a socket itself, with 1008
// (policy violation) unless said otherwise. Pages show them as they are.
const (
	closeTooSlow   = "too slow"
	closeShutdown  = "server shutting down" // with 1001 (going away)
	closeExpired   = "session expired"
	closeSignedOut = "signed out"
	closeRevoked   = "sign-in changed; sign in again"
	closeTokenGone = "token revoked"
	// closeDeviceRevoked ends a wall screen's sockets when an admin
	// revokes it; the kiosk page then says it is no longer signed in.
	closeDeviceRevoked = "device revoked"
)

// streamEnd is why the server ended a stream: the close code and reason
// the client gets, and the label it is counted under.
type streamEnd struct {
	code   websocket.StatusCode
	reason string
	label  string
}

var (
	endSignedOut = streamEnd{websocket.StatusPolicyViolation, closeSignedOut, "signed-out"}
	endRevoked   = streamEnd{websocket.StatusPolicyViolation, closeRevoked, "credentials-changed"}
	endTokenGone = streamEnd{websocket.StatusPolicyViolation, closeTokenGone, "token-revoked"}
	endExpired   = streamEnd{websocket.StatusPolicyViolation, closeExpired, "session-expired"}
	endDevice    = streamEnd{websocket.StatusPolicyViolation, closeDeviceRevoked, "device-revoked"}
)

// openStream is one open /events or /phone socket in the server's
// registry, by whom it was opened.
type openStream struct {
	kind streamKind
	p    principal
	h    *hijackRecorder

	// ended is closed when the server ends the stream (sign-out, changed
	// credentials); why is set before.
	ended chan struct{}
	once  sync.Once
	why   streamEnd
	// onEnd, when set (watchEnd), is called once ended is closed.
	mu    sync.Mutex
	onEnd func()
}

// end tells the stream's owner to close it for why; the first call wins.
func (st *openStream) end(why streamEnd) {
	st.once.Do(func() {
		st.why = why
		close(st.ended)
		st.mu.Lock()
		f := st.onEnd
		st.mu.Unlock()
		if f != nil {
			f()
		}
	})
}

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// watchEnd has f called once the stream is ended (at once if it is): an
// owner that serves many streams without a goroutine waiting on each one's
// ended learns of it without polling. f must not wait.
func (st *openStream) watchEnd(f func()) {
	st.mu.Lock()
	if !isClosed(st.ended) {
		st.onEnd = f
		st.mu.Unlock()
		return
	}
	st.mu.Unlock()
	f()
}

// capKey is whose share of the socket caps st counts against: its token,
// or its user; a wall screen counts alone, under its own sign-in.
func (p principal) capKey() (key string, token bool) {
	switch {
	case p.token != nil:
		return "token:" + p.token.Name, true
	case p.device:
		return "session:" + p.sessionID, false
	}
	return "user:" + p.user.Name, false
}

// errStreamRefused is why startStream refused a stream; its text goes to
// the client as the close reason.
type errStreamRefused struct {
	end streamEnd
}

func (e errStreamRefused) Error() string { return e.end.reason }

var errStopping = errors.New("server shutting down")

// acceptStream upgrades r to a WebSocket of kind that counts as one of
// the server's streams, registered for the principal that opened it;
// done must be called when it is over. ok is false when the upgrade was
// refused (an error has been answered, as JSON), the server is shutting
// down (the socket is closed at once with 1001), or a cap or the
// principal's sign-in does not allow it (closed with 1008 and the reason
// in plain words).
func (s *Server) acceptStream(w http.ResponseWriter, r *http.Request, kind streamKind) (conn *websocket.Conn, st *openStream, ok bool) {
	p, _ := r.Context().Value(principalKey{}).(principal)
	h := &hijackRecorder{ResponseWriter: w, events: kind == streamEvents}
	st = &openStream{kind: kind, p: p, h: h, ended: make(chan struct{})}
	// Registered before the upgrade is answered: once a client has its
	// 101, its socket counts against the caps, so that the next one is
	// measured against it.
	regErr := s.startStream(r.Context(), st)
	je := &jsonErrorWriter{ResponseWriter: h}
	conn, err := websocket.Accept(je, r, &websocket.AcceptOptions{OriginPatterns: s.originPatterns})
	if err != nil {
		if regErr == nil {
			s.endStream(st)
		}
		// Accept has refused the request (403 for a foreign origin, 426 for
		// no upgrade): answer its words as JSON, like every API error.
		s.log.Debug(string(kind)+" upgrade refused", "remote", s.clientAddr(r), "origin", clip(r.Header.Get("Origin")), "err", err)
		je.flushJSON()
		return nil, nil, false
	}
	if regErr != nil {
		var refused errStreamRefused
		if errors.As(regErr, &refused) {
			// After the upgrade, so that a page can read why.
			s.log.Debug(string(kind)+" socket refused", "user", p.user.Name, "remote", s.clientAddr(r), "reason", refused.end.reason)
			s.closeBounded(conn, h, refused.end.code, refused.end.reason)
			return nil, nil, false
		}
		_ = conn.Close(websocket.StatusGoingAway, closeShutdown)
		return nil, nil, false
	}
	return conn, st, true
}

// startStream registers st; it refuses it once the server is stopping,
// when a socket cap is reached, or when the sign-in st was opened with
// has ended meanwhile. The sign-in is checked after st is registered:
// a sign-out that comes before the check is seen by it, one that comes
// after finds st registered and ends it, so a sign-out racing the
// upgrade always wins (and the store is not asked under streamMu).
func (s *Server) startStream(ctx context.Context, st *openStream) error {
	if err := s.registerStream(st); err != nil {
		return err
	}
	if !s.principalValid(ctx, st.p) {
		s.endStream(st)
		why := endSignedOut
		if st.p.token != nil {
			why = endTokenGone
		}
		return errStreamRefused{why}
	}
	return nil
}

// registerStream counts st against the caps and adds it to the registry.
func (s *Server) registerStream(st *openStream) error {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	if s.stopping {
		return errStopping
	}
	lim := s.cfg.Limits
	key, token := st.p.capKey()
	capOf, what := lim.MaxEventsPerUser, "/events sockets per user"
	switch {
	case st.kind == streamPhone:
		capOf, what = lim.MaxPhonePerUser, "softphone pages per user"
	case token:
		capOf, what = lim.MaxEventsPerToken, "/events sockets per token"
	}
	switch {
	case len(s.open) >= lim.MaxSockets:
		s.metrics.socketsRefused.WithLabelValues(string(st.kind), "total").Inc()
		return errStreamRefused{streamEnd{websocket.StatusPolicyViolation, fmt.Sprintf("server full: at most %d sockets; try again later", lim.MaxSockets), ""}}
	case s.perKey[string(st.kind)+"\x00"+key] >= capOf:
		label := "user"
		if token {
			label = "token"
		}
		s.metrics.socketsRefused.WithLabelValues(string(st.kind), label).Inc()
		return errStreamRefused{streamEnd{websocket.StatusPolicyViolation, fmt.Sprintf("too many open sockets: at most %d %s", capOf, what), ""}}
	}
	s.streams.Add(1)
	s.open[st] = struct{}{}
	s.perKey[string(st.kind)+"\x00"+key]++
	s.metrics.sockets.WithLabelValues(string(st.kind)).Inc()
	return nil
}

// openStreams counts the open streams of kind.
func (s *Server) openStreams(kind streamKind) int {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	n := 0
	for st := range s.open {
		if st.kind == kind {
			n++
		}
	}
	return n
}

// endStream is the end of a stream startStream accepted.
func (s *Server) endStream(st *openStream) {
	key, _ := st.p.capKey()
	s.streamMu.Lock()
	delete(s.open, st)
	k := string(st.kind) + "\x00" + key
	if s.perKey[k]--; s.perKey[k] <= 0 {
		delete(s.perKey, k)
	}
	s.streamMu.Unlock()
	s.metrics.sockets.WithLabelValues(string(st.kind)).Dec()
	s.streams.Done()
}

// endStreams ends every open stream match selects, for why, and returns
// how many. Their owners close them at once; endStreams does not wait.
func (s *Server) endStreams(match func(*openStream) bool, why streamEnd) int {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	n := 0
	for st := range s.open {
		if match(st) {
			st.end(why)
			s.metrics.socketsEnded.WithLabelValues(string(st.kind), why.label).Inc()
			n++
		}
	}
	return n
}

// closeGrace is how long a socket the server ends itself (sign-out, a
// cap) has to answer the close handshake before its connection is cut.
const closeGrace = time.Second

// closeBounded closes conn with code and reason, and cuts the connection
// if the client has not answered the close handshake within closeGrace:
// a client that ignores the close must not keep its socket for long.
func (s *Server) closeBounded(conn *websocket.Conn, h *hijackRecorder, code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = conn.Close(code, reason)
	}()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		h.closeNow()
		<-done
	}
}

// untilStop returns ctx, ended as well when the shutdown tells the
// streams to end. stop releases it. No goroutine waits for the shutdown:
// a softphone page holds one stream for hours, and a server holds
// thousands of them.
func (s *Server) untilStop(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.stopCtx, cancel)
	return ctx, func() {
		unhook()
		cancel()
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
	// events, for an /events socket, puts an eventConn between the
	// connection and the WebSocket library; ec is it once hijacked.
	events bool
	ec     *eventConn
	// closer, once set (the events mux owns the socket), is what closeNow
	// does instead of closing the connection: the mux writes to the
	// socket's descriptor directly, so it alone may close it.
	closer func()
	// pending is what the client sent after its request and net/http had
	// read already (an /events socket only); the mux reads it first.
	pending []byte
}

// eventsWriterSize is the WebSocket library's read and write buffer on
// an /events socket: it writes control frames only (at most 2+2+125
// bytes), the stream its data frames itself, and reads control frames.
const eventsWriterSize = 256

// Hijack takes the connection over and remembers it. The read and write
// deadlines http.Server set for the request are lifted: from now on the
// WebSocket's own timeouts apply.
func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return c, rw, err
	}
	_ = c.SetDeadline(time.Time{})
	h.mu.Lock()
	h.conn = c
	h.mu.Unlock()
	if !h.events {
		return c, rw, nil
	}
	// The 101 answer has been flushed; the library's frames go through
	// the eventConn from here on, whole, in a small buffer of their own.
	// Reading, a client sends only pongs and its close frame: a small
	// buffer of the socket's own replaces net/http's 4 KiB one, with what
	// that one had read already in front.
	h.ec = newEventConn(c)
	pending, _ := rw.Reader.Peek(rw.Reader.Buffered())
	var r io.Reader = h.ec
	if len(pending) > 0 {
		h.pending = bytes.Clone(pending)
		r = io.MultiReader(bytes.NewReader(h.pending), h.ec)
	}
	return h.ec, bufio.NewReadWriter(bufio.NewReaderSize(r, eventsWriterSize), bufio.NewWriterSize(h.ec, eventsWriterSize)), nil
}

// ownClose has closeNow call f instead of closing the connection.
func (h *hijackRecorder) ownClose(f func()) {
	h.mu.Lock()
	h.closer = f
	h.mu.Unlock()
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// dropResponse forgets net/http's response once the socket is hijacked
// and answered, so that it, its request and its buffers can be freed
// while the socket stays.
func (h *hijackRecorder) dropResponse() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		h.ResponseWriter = nil
	}
}

// closeNow closes the connection without a goodbye: under TLS the socket
// beneath, since tls.Conn.Close may wait to send its close_notify.
func (h *hijackRecorder) closeNow() {
	h.mu.Lock()
	c, closer := h.conn, h.closer
	h.mu.Unlock()
	if closer != nil {
		closer()
		return
	}
	if c == nil {
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	_ = c.Close()
}

// jsonErrorWriter holds back an error websocket.Accept writes (with
// http.Error, as plain text) so that flushJSON can answer it as JSON; a
// successful upgrade passes straight through.
type jsonErrorWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

// WriteHeader passes a success on and keeps an error for flushJSON.
func (w *jsonErrorWriter) WriteHeader(code int) {
	if code >= 400 {
		w.status = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write keeps an error's body, at most a line of it.
func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.status != 0 {
		if w.body.Len() < 512 {
			w.body.Write(b[:min(len(b), 512)])
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets Accept hijack the connection underneath.
func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// flushJSON answers the held-back error as {"error": "..."}.
func (w *jsonErrorWriter) flushJSON() {
	status := w.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w.ResponseWriter, status, map[string]string{"error": strings.TrimSpace(w.body.String())})
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
