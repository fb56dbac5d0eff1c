package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Cookie names. The session cookie holds only a random id.
const (
	sessionCookie = "switchboard_session"
	// embedSessionCookie is the session cookie when embed_origins is
	// set: __Host- (Secure, Path=/, no Domain: no other host of the
	// site can set or shadow it), SameSite=None so that a portal's frame
	// sends it, Partitioned (CHIPS) so that browsers blocking
	// third-party cookies keep it, in the portal's partition only.
	embedSessionCookie = "__Host-switchboard_session"
	// loginCookie carries the sign-in form's CSRF token before there is a
	// session (double-submit cookie).
	loginCookie = "switchboard_login"
	csrfField   = "csrf"
	csrfHeader  = "X-CSRF-Token"
)

// principal is who made a request and how.
type principal struct {
	user User
	// sessionID is the public ID of a cookie sign-in (a user's session or
	// a device); empty for bearer tokens.
	sessionID string
	// secret is the cookie's value, kept to check the sign-in again and
	// to send the cookie again when it was renewed.
	secret string
	csrf   string
	// device marks a wall screen signed in by a one-time link.
	device bool
	// renewed says the sign-in's lifetime was just extended: its cookie
	// is sent again with the full lifetime.
	renewed bool
	// token is the bearer token used, as configured; nil for sessions.
	token *Token
	// via names who vouched for an identity from outside: the OpenID
	// provider of an SSO sign-in ("oidc:" + issuer) or viaProxy; empty
	// for passwords, devices and tokens.
	via string
}

// viaProxy marks a principal named by the trusted proxy's header.
const viaProxy = "proxy"

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
// cookie. Errors: ErrInvalidToken for a token that is not configured,
// ErrUnauthenticated without a standing sign-in, ErrSessionStore when the
// sign-ins cannot be read.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return principal{}, fmt.Errorf("%w: send Authorization: Bearer <token>", ErrInvalidToken)
		}
		p, ok := s.tokenPrincipal(strings.TrimSpace(tok))
		if !ok {
			return principal{}, ErrInvalidToken
		}
		return p, nil
	}
	if p, ok, err := s.proxyPrincipal(r); ok || err != nil {
		return p, err
	}
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil || c.Value == "" {
		return principal{}, ErrUnauthenticated
	}
	return s.sessionPrincipal(r.Context(), c.Value)
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
// stands, or its token is still configured as it was.
func (s *Server) principalValid(ctx context.Context, p principal) bool {
	switch {
	case p.token != nil:
		return s.creds.Load().hasToken(*p.token)
	case p.sessionID != "":
		return s.stillSignedIn(ctx, p)
	case p.via == viaProxy:
		// The proxy vouched for the socket's request; it has no sign-in
		// of ours to end.
		return true
	}
	return false
}

// safeMethod reports whether m cannot change state (RFC 9110 section 9.2.1).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF verifies a state-changing request of a principal the
// browser sends by itself (a cookie, or the proxy's sign-in); bearer
// tokens have no CSRF token and need none.
func checkCSRF(r *http.Request, p principal) error {
	if safeMethod(r.Method) || p.csrf == "" {
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
		p, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if !p.user.Role.Allows(need) {
			return forbidden{need: need, have: p.user.Role, path: r.URL.Path}
		}
		if err := checkCSRF(r, p); err != nil {
			return err
		}
		if p.renewed {
			s.setSessionCookie(w, r, p.secret, s.ttlOf(kindOf(p)))
		}
		// What a signed-in user sees is theirs: no shared or browser
		// cache keeps it (a redirect or a file a handler serves included).
		w.Header().Set("Cache-Control", "no-store")
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

// secureCookie reports whether cookies for r get the Secure attribute:
// in auto mode, when the client used HTTPS, to us or to a trusted proxy
// that says so.
func (s *Server) secureCookie(r *http.Request) bool {
	switch s.cfg.SecureCookies {
	case CookieSecureAlways:
		return true
	case CookieSecureNever:
		return false
	}
	return s.requestScheme(r) == "https"
}

// setSessionCookie sends the sign-in's secret for ttl: HttpOnly so
// scripts never see it, SameSite=Lax so other sites' forms cannot use
// it. It is sent again whenever the sign-in is renewed, so a wall screen
// in use never reaches the cookie's end.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, secret string, ttl time.Duration) {
	c := s.cookie(r, s.sessionCookieName(), secret, "/", http.SameSiteLaxMode) //nolint:gosec // cookie sets HttpOnly, SameSite and Secure (see there)
	c.MaxAge = int(ttl.Seconds())
	http.SetCookie(w, c)
}

// embedding reports whether portals may frame the embed views.
func (s *Server) embedding() bool { return len(s.cfg.EmbedOrigins) > 0 }

// sessionCookieName is the session cookie's name: embedSessionCookie
// when embedding.
func (s *Server) sessionCookieName() string {
	if s.embedding() {
		return embedSessionCookie
	}
	return sessionCookie
}

// cookie is an HttpOnly cookie of ours. same is its SameSite without
// embedding; with it, a cookie a framed page needs is SameSite=None,
// Secure and Partitioned, or a cross-site frame would never send it.
func (s *Server) cookie(r *http.Request, name, value, path string, same http.SameSite) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: same, Secure: s.secureCookie(r)} //nolint:gosec // HttpOnly and SameSite set; Secure follows the request's scheme, always with embedding
	if s.embedding() && name != oidcCookie {
		c.SameSite, c.Secure, c.Partitioned = http.SameSiteNoneMode, true, true
	}
	return c
}

// kindOf is the kind of p's sign-in.
func kindOf(p principal) SessionKind {
	if p.device {
		return SessionDevice
	}
	return SessionUser
}

// forbidden is ErrForbidden with who asked for what, for a page that
// says it in words.
type forbidden struct {
	need, have Role
	path       string
}

func (f forbidden) Error() string {
	return fmt.Sprintf("%s: %s needs %s", ErrForbidden, f.path, f.need)
}

func (f forbidden) Unwrap() error { return ErrForbidden }

// clearCookie removes the cookie name, which was set for path: a browser
// keeps a cookie of another path, so it must be the same.
// A partitioned cookie is removed only by a Partitioned removal.
func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	c := s.cookie(r, name, "", path, http.SameSiteLaxMode) //nolint:gosec // cookie sets HttpOnly, SameSite and Secure (see there)
	c.MaxAge = -1
	http.SetCookie(w, c)
}
