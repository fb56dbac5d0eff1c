package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// Cookie names. The session cookie holds only a random id.
const (
	sessionCookie = "switchboard_session"
	// loginCookie carries the sign-in form's CSRF token before there is a
	// session (double-submit cookie).
	loginCookie = "switchboard_login"
	csrfField   = "csrf"
	csrfHeader  = "X-CSRF-Token"
)

// principal is who made a request and how.
type principal struct {
	user User
	// sessionID is set for cookie sessions; empty for bearer tokens.
	sessionID string
	csrf      string
	// wall marks the session of a wall screen signed in by a one-time
	// link.
	wall bool
	// token is the bearer token used, as configured; nil for sessions.
	token *Token
}

type principalKey struct{}

// UserFrom returns the signed-in user of a request handled behind
// Server.Handle or the server's own routes. The password hash is never
// included.
func UserFrom(ctx context.Context) (User, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p.user, ok
}

// CSRFToken returns the CSRF token a page must send back with forms
// (hidden field "csrf") and POST requests (header X-CSRF-Token); empty for
// bearer-token requests, which need none.
func CSRFToken(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p.csrf
}

// authenticate finds who sent r: a bearer token first, then the session
// cookie.
func (s *Server) authenticate(r *http.Request) (principal, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return principal{}, false
		}
		return s.tokenPrincipal(strings.TrimSpace(tok))
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return principal{}, false
	}
	sess, ok := s.sessions.touch(c.Value)
	if !ok {
		return principal{}, false
	}
	return principal{user: sess.user, sessionID: sess.id, csrf: sess.csrf, wall: sess.wall}, true
}

// tokenPrincipal compares tok with every configured token in constant
// time, without stopping at the first match, so timing tells nothing.
func (s *Server) tokenPrincipal(tok string) (principal, bool) {
	var found *Token
	creds := s.creds.Load()
	for i := range creds.tokens {
		t := &creds.tokens[i]
		if subtle.ConstantTimeCompare([]byte(tok), []byte(t.Token)) == 1 && found == nil {
			found = t
		}
	}
	if found == nil || tok == "" {
		return principal{}, false
	}
	return principal{user: User{Name: "token:" + found.Name, Role: found.Role}, token: found}, true
}

// principalValid reports whether p's sign-in still holds: its session
// exists, or its token is still configured as it was.
func (s *Server) principalValid(p principal) bool {
	switch {
	case p.token != nil:
		return s.creds.Load().hasToken(*p.token)
	case p.sessionID != "":
		return s.sessions.exists(p.sessionID)
	}
	return false
}

// safeMethod reports whether m cannot change state (RFC 9110 section 9.2.1).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF verifies a cookie-authenticated state-changing request.
func checkCSRF(r *http.Request, p principal) error {
	if safeMethod(r.Method) || p.sessionID == "" {
		return nil
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf)) != 1 {
		return ErrBadCSRF
	}
	return nil
}

// require wraps h so that it runs only for a principal with role need,
// with CSRF checked for cookie sessions.
func (s *Server) require(need Role, h http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, ok := s.authenticate(r)
		if !ok {
			return ErrUnauthenticated
		}
		if !p.user.Role.Allows(need) {
			return fmt.Errorf("%w: %s needs %s", ErrForbidden, r.URL.Path, need)
		}
		if err := checkCSRF(r, p); err != nil {
			return err
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		return nil
	})
}

// Handle mounts h at pattern (a ServeMux pattern such as "GET /phone")
// for users with at least role; other packages add their pages this way.
// Cookie-authenticated POSTs must carry the CSRF token.
func (s *Server) Handle(pattern string, h http.Handler, role Role) {
	s.mux.Handle(pattern, s.require(role, h))
}

// secureCookie reports whether cookies for r get the Secure attribute.
func (s *Server) secureCookie(r *http.Request) bool {
	switch s.cfg.SecureCookies {
	case CookieSecureAlways:
		return true
	case CookieSecureNever:
		return false
	}
	return r.TLS != nil
}

// setSessionCookie sends the session id: HttpOnly so scripts never see
// it, SameSite=Lax so other sites' forms cannot use it.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookie(r),
		MaxAge: int(s.cfg.SessionTTL.Seconds()),
	})
}

// clearCookie removes the cookie name, which was set for path: a browser
// keeps a cookie of another path, so it must be the same.
func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookie(r),
	})
}
