package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/gateway"
)

// PhoneService is the softphone gateway as the web server uses it.
type PhoneService interface {
	// ServeSession runs the /phone protocol for user on conn until the page
	// goes or ctx ends; it closes conn.
	ServeSession(ctx context.Context, user gateway.PhoneUser, conn *websocket.Conn) error
}

var _ PhoneService = (*gateway.Gateway)(nil)

// PhoneBoot is handed to phone.js as JSON.
type PhoneBoot struct {
	User     string   `json:"user"`
	Accounts []string `json:"accounts"`
	// History is true when recent calls can be loaded from /api/history.
	History bool `json:"history"`
}

// softphone serves the softphone page.
func (s *Server) softphone(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, Softphone(s.phoneView(r)))
	return nil
}

// phoneView is the softphone of r's user.
func (s *Server) phoneView(r *http.Request) PhoneView {
	u, _ := UserFrom(r.Context())
	accounts := append([]string{}, u.Accounts...)
	v := PhoneView{
		Meta:      s.meta(r, T(r.Context(), "phone.title"), "phone", "phone.js"),
		Accounts:  accounts,
		Available: s.deps.Phone != nil,
		Boot:      PhoneBoot{User: u.Name, Accounts: accounts, History: s.deps.History != nil},
	}
	return v
}

// phone serves the /phone WebSocket: the signed-in user's softphone
// session, limited to the accounts configured for them.
func (s *Server) phone(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Phone == nil {
		return ErrNotFound
	}
	u, _ := UserFrom(r.Context())
	conn, st, ok := s.acceptStream(w, r, streamPhone)
	if !ok {
		return nil
	}
	defer s.endStream(st)
	// The session ends, and the page is told to come back later (1001),
	// when the server shuts down. The request's own context lives on: a
	// forced shutdown ends it.
	ctx, stop := s.untilStop(r.Context())
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	unwatch := s.watchPhone(ctx, cancel, conn, st)
	if err := s.deps.Phone.ServeSession(ctx, gateway.PhoneUser{Name: u.Name, Accounts: u.Accounts}, conn); err != nil {
		s.log.Info("phone session ended", "user", u.Name, "err", err)
	}
	cancel()
	unwatch()
	return nil
}

// watchPhone ends a /phone session whose sign-in ends: at once when the
// server ends the stream (sign-out, changed credentials), and at the next
// check when its session has expired — an open page keeps its session
// alive, like /events. The page gets 1008 and the reason first, then the
// session's context ends (cancel), which hangs up its call; the close
// frame goes first so that the page is told why rather than "server
// shutting down". The returned unwatch stops the watching and waits for a
// check or an ending under way.
//
// Nothing waits per page between checks: a timer runs the check, and the
// stream's end hook the ending, each in a goroutine of its own only while
// it works — an idle softphone page costs no goroutine here.
func (s *Server) watchPhone(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, st *openStream) (unwatch func()) {
	w := &phoneWatch{s: s, ctx: ctx, cancel: cancel, conn: conn, st: st}
	w.mu.Lock()
	w.timer = time.AfterFunc(s.pingInterval, w.check)
	w.mu.Unlock()
	st.watchEnd(func() {
		if w.enter() {
			go func() {
				defer w.wg.Done()
				w.finish(st.why)
			}()
		}
	})
	return w.stop
}

// phoneWatch is one /phone session's watch (watchPhone).
type phoneWatch struct {
	s      *Server
	ctx    context.Context //nolint:containedctx // the session's, which the watch outlives by nothing
	cancel context.CancelFunc
	conn   *websocket.Conn
	st     *openStream

	// wg counts the checks and endings under way; once they are let in
	// (enter) only until stop.
	wg      sync.WaitGroup
	mu      sync.Mutex
	stopped bool
	timer   *time.Timer
	once    sync.Once
}

// enter lets a check or an ending run, unless the watch has stopped.
func (w *phoneWatch) enter() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return false
	}
	w.wg.Add(1)
	return true
}

// check asks the session store whether the sign-in still stands (which
// renews it) and arms the next check, or ends the session.
func (w *phoneWatch) check() {
	if !w.enter() {
		return
	}
	defer w.wg.Done()
	if !w.s.stillSignedIn(w.ctx, w.st.p) {
		w.s.metrics.socketsEnded.WithLabelValues(string(streamPhone), endExpired.label).Inc()
		w.finish(endExpired)
		return
	}
	w.mu.Lock()
	if !w.stopped {
		w.timer.Reset(w.s.pingInterval)
	}
	w.mu.Unlock()
}

// finish closes the page's socket with why and ends the session; the
// first call wins, and a session already over is left as it is.
func (w *phoneWatch) finish(why streamEnd) {
	w.once.Do(func() {
		if w.ctx.Err() != nil {
			return
		}
		w.s.log.Info("phone session ended by the server", "user", w.st.p.user.Name, "reason", why.reason)
		w.s.closeBounded(w.conn, w.st.h, why.code, why.reason)
		w.cancel()
	})
}

// stop ends the watch and waits for what runs of it.
func (w *phoneWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
	w.wg.Wait()
}
