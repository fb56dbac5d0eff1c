package web

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// recentLimit is how many of today's calls the wallboard lists.
const recentLimit = 50

// WallboardBoot is handed to wallboard.js as JSON: the server's clock (to
// correct a wall screen's), today's calls and whether the viewer is admin.
type WallboardBoot struct {
	Now    time.Time      `json:"now"`
	Admin  bool           `json:"admin"`
	Recent []monitor.Call `json:"recent"`
	Limit  int            `json:"limit"`
}

func (s *Server) wallboard(w http.ResponseWriter, r *http.Request) error {
	u, _ := UserFrom(r.Context())
	now := s.now()
	snap := s.deps.Hub.Snapshot()
	acts := controlActions(u.Role, snap.Sources())
	v := WallboardView{
		Meta:      s.meta(r, "Wallboard", "wallboard", "wallboard.js"),
		Admin:     u.Role.Allows(RoleAdmin),
		Originate: originateSources(u.Role, snap.Sources()),
		Boot:      WallboardBoot{Now: now, Admin: u.Role.Allows(RoleAdmin), Recent: []monitor.Call{}, Limit: recentLimit},
	}
	for _, c := range snap.Calls() {
		v.Calls = append(v.Calls, callView(c, now, acts[c.Source]))
	}
	for _, st := range snap.Sources() {
		v.Sources = append(v.Sources, sourceView(st, now))
	}
	if s.deps.History != nil {
		y, m, d := now.Date()
		midnight := time.Date(y, m, d, 0, 0, 0, 0, now.Location())
		recent, err := s.deps.History.Recent(r.Context(), midnight, recentLimit)
		if err != nil {
			s.log.Error("load today's calls", "err", err)
			v.RecentError = "Today's calls could not be loaded."
		}
		for _, c := range recent {
			v.Recent = append(v.Recent, callView(c, now, nil))
			v.Boot.Recent = append(v.Boot.Recent, c)
		}
	}
	s.render(w, r, http.StatusOK, Wallboard(v))
	return nil
}

// localPath returns next when it is a path on this site, else "/", so the
// sign-in page cannot be used to send users elsewhere.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	if _, ok := s.authenticate(r); ok {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	s.renderLogin(w, r, http.StatusOK, "", r.URL.Query().Get("next"), "")
	return nil
}

// loginCookiePath is where the sign-in form's double-submit cookie is
// sent; it is cleared with the same path.
const loginCookiePath = "/login"

// maxLoginForm bounds the sign-in form's body.
const maxLoginForm = 8 << 10

// renderLogin shows the sign-in form with a fresh double-submit token.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, name, next, msg string) {
	tok := randomToken(24)
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: tok, Path: loginCookiePath, MaxAge: 3600,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookie(r),
	})
	v := LoginView{Meta: s.meta(r, "Sign in", ""), CSRF: tok, Name: name, Next: localPath(next), Error: msg}
	s.render(w, r, status, LoginPage(v))
}

// login checks a sign-in. The limiter's token is taken before the
// password is checked, the check waits for a turn at the bounded gate,
// and only then does bcrypt run; see ratelimit.go.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: sign-in form: %w", ErrBadRequest, err)
	}
	name, pass, next := r.PostFormValue("name"), r.PostFormValue("password"), r.PostFormValue("next")
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		s.log.Debug("sign-in refused: form token", "remote", s.clientAddr(r))
		s.renderLogin(w, r, http.StatusForbidden, name, next, "The sign-in form expired. Please try again.")
		return nil
	}
	addr := s.clientAddr(r)
	key := addrKey(addr)
	ticket, wait := s.limiter.take(name, key)
	if wait > 0 {
		s.metrics.logins.WithLabelValues(loginThrottled).Inc()
		s.log.Debug("sign-in throttled", "user", clip(name), "remote", addr)
		secs := int(wait.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.renderLogin(w, r, http.StatusTooManyRequests, name, next,
			fmt.Sprintf("Too many failed sign-in attempts. Try again in %d seconds.", secs))
		return nil
	}
	if !s.checks.enter(r.Context(), key) {
		ticket.cancel()
		s.metrics.logins.WithLabelValues(loginBusy).Inc()
		s.log.Debug("sign-in refused: no turn for a password check", "user", clip(name), "remote", addr)
		w.Header().Set("Retry-After", "1")
		s.renderLogin(w, r, http.StatusServiceUnavailable, name, next, "The server is busy signing others in. Please try again in a moment.")
		return nil
	}
	u, known := s.userByName(name)
	hash := s.dummyHash
	if known {
		hash = []byte(u.PasswordHash)
	}
	err = s.checkPassword(hash, []byte(pass))
	s.checks.leave(key)
	var sess session
	if err == nil && known {
		// The check ran against the credentials of a moment ago: a
		// password or role changed meanwhile gives no session.
		sess, known = s.sessions.create(u, false, func() bool { return s.creds.Load().userCurrent(u) })
	}
	if err != nil || !known {
		ticket.failed()
		s.metrics.logins.WithLabelValues(loginWrong).Inc()
		// A known name's failure is worth a line; made-up names can come
		// by the million.
		level := slog.LevelDebug
		if _, ok := s.userByName(name); ok {
			level = slog.LevelInfo
		}
		s.log.Log(r.Context(), level, "sign-in failed", "user", clip(name), "remote", addr)
		s.renderLogin(w, r, http.StatusUnauthorized, name, next, "Wrong name or password.")
		return nil
	}
	ticket.succeeded()
	s.metrics.logins.WithLabelValues(loginOK).Inc()
	s.setSessionCookie(w, r, sess.id)
	s.clearCookie(w, r, loginCookie, loginCookiePath)
	s.log.Info("signed in", "user", u.Name, "role", u.Role, "remote", addr)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
	return nil
}

// logout ends the session and, at once, every /events and /phone socket
// opened with it.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	p, _ := r.Context().Value(principalKey{}).(principal)
	if p.sessionID != "" {
		s.sessions.delete(p.sessionID)
		s.endStreams(func(st *openStream) bool { return st.p.sessionID == p.sessionID }, endSignedOut)
	}
	s.clearCookie(w, r, sessionCookie, "/")
	s.log.Info("signed out", "user", p.user.Name)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// useWallLink turns a one-time wall-screen code into a viewer session and
// moves on to the wallboard, so the code does not stay in the address bar.
// HEAD, as link-preview bots send, answers without looking at the code,
// so it stays unused for the wall screen.
func (s *Server) useWallLink(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	link, ok := s.walls.use(r.PathValue("code"))
	if !ok {
		s.log.Debug("wall-screen link refused", "remote", s.clientAddr(r))
		return fmt.Errorf("%w: this wall-screen link is unknown, used or expired; create a new one on the wallboard", ErrNotFound)
	}
	sess, _ := s.sessions.create(User{Name: wallSessionUser, Role: RoleViewer}, true, nil)
	s.setSessionCookie(w, r, sess.id)
	s.log.Info("wall-screen link used", "created_by", link.creator, "remote", s.clientAddr(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
