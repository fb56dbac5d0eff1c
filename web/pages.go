package web

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WallboardBoot is handed to wallboard.js as JSON: the server's clock (to
// correct a wall screen's), whether the viewer is admin, whether this is
// the kiosk view, and the day so far (figures and today's calls).
type WallboardBoot struct {
	Now   time.Time `json:"now"`
	Admin bool      `json:"admin"`
	Kiosk bool      `json:"kiosk"`
	// Zone is the display zone's IANA name, for the page's times; empty
	// when it is the server's own unnamed zone (the browser's is used).
	Zone  string `json:"zone"`
	Today Today  `json:"today"`
	// View is "queues" for the queue view (?view=queues), else empty.
	View string `json:"view,omitempty"`
	// Thresholds colour the queue view's figures (panel: thresholds).
	Thresholds PanelThresholds `json:"thresholds"`
	// Lines limits the active calls to those on these lines (an embed
	// view of an account's or the user's calls); empty for all.
	Lines []string `json:"lines"`
}

// wallboard serves the board at /; /?kiosk=1 is the kiosk view.
func (s *Server) wallboard(w http.ResponseWriter, r *http.Request) error {
	return s.board(w, r, r.URL.Query().Get("kiosk") == "1")
}

// kiosk serves the kiosk view at /wall: the board for a screen on the
// wall, with no menu, no sign-out and no user name, a clock, and type
// that grows with the screen.
func (s *Server) kiosk(w http.ResponseWriter, r *http.Request) error {
	return s.board(w, r, true)
}

func (s *Server) board(w http.ResponseWriter, r *http.Request, kiosk bool) error {
	return s.boardView(w, r, kiosk, nil, nil)
}

// boardView renders the board; frame, when set, changes its page frame
// (the embed views).
// lines, when set, limits the active calls to those on them.
func (s *Server) boardView(w http.ResponseWriter, r *http.Request, kiosk bool, frame func(PageMeta) PageMeta, lines []string) error {
	u, _ := UserFrom(r.Context())
	now := s.now()
	snap := s.deps.Hub.Snapshot()
	admin := u.Role.Allows(RoleAdmin) && !kiosk
	role := u.Role
	if kiosk {
		// No call control on a wall: nobody stands at it with a mouse.
		role = RoleViewer
	}
	acts := controlActions(role, snap.Sources())
	today := s.today(r.Context(), now)
	l := LocaleFrom(r.Context())
	meta := s.meta(r, l.T("wallboard.title"), "wallboard", "wallboard.js")
	meta.Kiosk = kiosk
	if frame != nil {
		meta = frame(meta)
	}
	v := WallboardView{
		Meta:      meta,
		Now:       now.In(s.displayZone()),
		Admin:     admin,
		Kiosk:     kiosk,
		Originate: originateSources(role, snap.Sources()),
		Today:     today,
		Boot: WallboardBoot{Now: now, Admin: admin, Kiosk: kiosk, Zone: zoneName(s.displayZone()), Today: today, Lines: lines,
			Thresholds: s.cfg.Panel.thresholds()},
		HasQueues: len(snap.Queues()) > 0,
	}
	if r.URL.Query().Get("view") == "queues" {
		// The queue view for big screens: only the queues, large.
		v.Boot.View = "queues"
		v.Meta.Title = l.T("panel.queue_view")
		s.render(w, r, http.StatusOK, WallQueues(v))
		return nil
	}
	if today.Error != "" && !today.Figures && s.deps.History != nil {
		v.RecentError = today.Error
	}
	for _, c := range snap.Calls() {
		if lines != nil && !slices.Contains(lines, c.Line) {
			continue
		}
		v.Calls = append(v.Calls, callView(l, c, now, acts[c.Source]))
	}
	for _, st := range snap.Sources() {
		v.Sources = append(v.Sources, sourceView(l, st, now))
	}
	for _, c := range today.Recent {
		v.Recent = append(v.Recent, callView(l, c, now, nil))
	}
	s.render(w, r, http.StatusOK, Wallboard(v))
	return nil
}

// zoneName is loc's IANA name for the page, or empty for the process's
// unnamed local zone.
func zoneName(loc *time.Location) string {
	if loc == time.Local || loc.String() == "Local" {
		return ""
	}
	return loc.String()
}

// recentLimit is how many of today's calls the wallboard lists.
const recentLimit = 50

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
	if _, err := s.authenticate(r); err == nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther) //nolint:gosec // localPath keeps it on this site
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
	c := s.cookie(r, loginCookieName(tok), tok, loginCookiePath, http.SameSiteStrictMode) //nolint:gosec // cookie sets HttpOnly, SameSite and Secure (see there)
	c.MaxAge = 3600
	http.SetCookie(w, c)
	v := LoginView{Meta: s.meta(r, T(r.Context(), "login.title"), "", "signin.js"), CSRF: tok, Name: name, Next: localPath(next), Error: msg}
	if strings.HasPrefix(v.Next, embedPrefix) {
		// A framed view's visitor signs in inside the frame.
		v.Meta = s.embedMeta(r, v.Meta)
	}
	v.Passwords = len(s.creds.Load().users) > 0 || s.oidc == nil
	if s.oidc != nil {
		v.SSO = oidcPath + "?next=" + url.QueryEscape(v.Next)
		v.SSOLabel = s.oidc.cfg.Label
		if v.SSOLabel == "" {
			v.SSOLabel = T(r.Context(), "login.sso")
		}
	}
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
	form := r.PostFormValue(csrfField)
	var c *http.Cookie
	err := ErrBadCSRF
	if validToken(form) {
		c, err = r.Cookie(loginCookieName(form))
	}
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		s.log.Debug("sign-in refused: form token", "remote", s.clientAddr(r))
		s.renderLogin(w, r, http.StatusForbidden, name, next, T(r.Context(), "login.error.expired"))
		return nil
	}
	addr := s.clientAddr(r)
	key := addrKey(addr)
	ticket, wait := s.limiter.take(name, key)
	if wait == 0 {
		if wait = s.sharedThrottle(r.Context(), name, key); wait > 0 {
			ticket.cancel()
		}
	}
	if wait > 0 {
		s.metrics.logins.WithLabelValues(loginThrottled).Inc()
		s.log.Debug("sign-in throttled", "user", clip(name), "remote", addr)
		secs := int(wait.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.renderLogin(w, r, http.StatusTooManyRequests, name, next,
			T(r.Context(), "login.error.throttled", "Count", secs))
		return nil
	}
	if !s.checks.enter(r.Context(), key) {
		ticket.cancel()
		s.metrics.logins.WithLabelValues(loginBusy).Inc()
		s.log.Debug("sign-in refused: no turn for a password check", "user", clip(name), "remote", addr)
		w.Header().Set("Retry-After", "1")
		s.renderLogin(w, r, http.StatusServiceUnavailable, name, next, T(r.Context(), "login.error.busy"))
		return nil
	}
	u, known := s.userByName(name)
	hash := s.dummyHash
	if known {
		hash = []byte(u.PasswordHash)
	}
	err = s.checkPassword(hash, []byte(pass))
	s.checks.leave(key)
	if err == nil && known && !s.creds.Load().userCurrent(u) {
		// The check ran against the credentials of a moment ago: a
		// password or role changed meanwhile gives no session.
		known = false
	}
	if err != nil || !known {
		ticket.failed()
		s.sharedFailed(r.Context(), name, key)
		s.metrics.logins.WithLabelValues(loginWrong).Inc()
		// A known name's failure is worth a line; made-up names can come
		// by the million.
		level := slog.LevelDebug
		if _, ok := s.userByName(name); ok {
			level = slog.LevelInfo
		}
		s.log.Log(r.Context(), level, "sign-in failed", "user", clip(name), "remote", addr)
		s.renderLogin(w, r, http.StatusUnauthorized, name, next, T(r.Context(), "login.error.wrong"))
		return nil
	}
	ticket.succeeded()
	s.sharedSucceeded(r.Context(), name, key)
	secret, rec, err := s.newSession(r.Context(), StoredSession{Kind: SessionUser, Name: u.Name, Role: u.Role, Grant: grantOf(u), Address: addr.String()})
	if err != nil {
		s.log.Error("sign-in could not be stored", "user", u.Name, "err", err)
		w.Header().Set("Retry-After", "5")
		s.renderLogin(w, r, http.StatusServiceUnavailable, name, next, T(r.Context(), "login.error.store"))
		return nil
	}
	s.metrics.logins.WithLabelValues(loginOK).Inc()
	s.setSessionCookie(w, r, secret, s.cfg.SessionTTL)
	s.clearCookie(w, r, loginCookieName(form), loginCookiePath)
	s.applyUserLanguage(w, r, u.Name)
	s.log.Info("signed in", "user", u.Name, "role", u.Role, "session", rec.ID, "remote", addr)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther) //nolint:gosec // localPath keeps it on this site
	return nil
}

// logout ends the session and, at once, every /events and /phone socket
// opened with it.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	p, _ := r.Context().Value(principalKey{}).(principal)
	if p.sessionID != "" {
		if _, err := s.sessions.RevokeSession(r.Context(), p.sessionID); err != nil {
			return fmt.Errorf("sign out: %w: %w", ErrSessionStore, err)
		}
		why := endSignedOut
		if p.device {
			why = endDevice
		}
		s.endStreams(func(st *openStream) bool { return st.p.sessionID == p.sessionID }, why)
	}
	s.clearCookie(w, r, s.sessionCookieName(), "/")
	s.log.Info("signed out", "user", p.user.Name, "session", p.sessionID, "via", p.via)
	if s.oidc != nil && p.via == s.oidc.source {
		// RP-initiated logout: the provider ends its own session too and
		// sends the browser back to the sign-in page.
		if end := s.oidc.endSessionURL(s.baseURL(r) + "/login"); end != "" {
			http.Redirect(w, r, end, http.StatusSeeOther)
			return nil
		}
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// useWallLink turns a one-time wall-screen code into a device sign-in
// under the name the admin gave the link, and moves on to the kiosk
// view, so the code does not stay in the address bar. HEAD, as
// link-preview bots send, answers without looking at the code, so it
// stays unused for the wall screen.
func (s *Server) useWallLink(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	link, ok := s.walls.use(r.PathValue("code"))
	if !ok {
		s.log.Debug("wall-screen link refused", "remote", s.clientAddr(r))
		return problem(ErrNotFound, "error.wall_link_gone")
	}
	secret, rec, err := s.newSession(r.Context(), StoredSession{Kind: SessionDevice, Name: link.name, Role: RoleViewer,
		CreatedBy: link.creator, Address: s.clientAddr(r).String()})
	if err != nil {
		return fmt.Errorf("wall-screen link: %w", err)
	}
	s.setSessionCookie(w, r, secret, s.cfg.DeviceTTL)
	if tag, ok := s.catalogue.known(link.lang); ok {
		s.setLangCookie(w, r, tag)
	}
	s.log.Info("wall screen signed in", "device", link.name, "session", rec.ID, "created_by", link.creator, "remote", s.clientAddr(r))
	http.Redirect(w, r, "/wall", http.StatusSeeOther)
	return nil
}

// loginCookieName is the cookie of the sign-in form whose token is tok:
// each form has its own, so that two forms open at once (two tabs, or a
// portal's phone and wallboard frames both showing it, loaded at the same
// moment) do not replace each other's token. They end with the form's
// hour or at the sign-in.
func loginCookieName(tok string) string { return loginCookie + "_" + tok[:min(len(tok), 8)] }

// validToken reports whether v is made only of randomToken's alphabet
// (unpadded URL-safe base64), so that a cookie's value goes into a page
// as it is.
func validToken(v string) bool {
	for _, c := range v {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return v != ""
}
