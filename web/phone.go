package web

import (
	"context"
	"net/http"
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
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watchPhone(ctx, cancel, conn, st)
	}()
	if err := s.deps.Phone.ServeSession(ctx, gateway.PhoneUser{Name: u.Name, Accounts: u.Accounts}, conn); err != nil {
		s.log.Info("phone session ended", "user", u.Name, "err", err)
	}
	cancel()
	<-watched
	return nil
}

// watchPhone ends a /phone session whose sign-in ends: at once when the
// server ends the stream (sign-out, changed credentials), and at the next
// check when its session has expired — an open page keeps its session
// alive, like /events. The page gets 1008 and the reason first, then the
// session's context ends, which hangs up its call; the close frame goes
// first so that the page is told why rather than "server shutting
// down". watchPhone returns when ctx ends.
func (s *Server) watchPhone(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, st *openStream) {
	tick := time.NewTicker(s.pingInterval)
	defer tick.Stop()
	var why streamEnd
	for why.reason == "" {
		select {
		case <-ctx.Done():
			return
		case <-st.ended:
			why = st.why
		case <-tick.C:
			if !s.stillSignedIn(ctx, st.p) {
				why = endExpired
				s.metrics.socketsEnded.WithLabelValues(string(streamPhone), endExpired.label).Inc()
			}
		}
	}
	s.log.Info("phone session ended by the server", "user", st.p.user.Name, "reason", why.reason)
	s.closeBounded(conn, st.h, why.code, why.reason)
	cancel()
}
