package web

import (
	"crypto/subtle"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
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

// historyFilter reads the history search from a query string; limit and
// offset are clamped to the store's bounds.
func historyFilter(q url.Values) (history.Filter, error) {
	f := history.Filter{
		Number:  strings.TrimSpace(q.Get("number")),
		Source:  monitor.SourceName(q.Get("source")),
		Outcome: history.Outcome(q.Get("outcome")),
	}
	switch f.Outcome {
	case history.OutcomeAny, history.OutcomeMissed, history.OutcomeAnswered:
	default:
		return f, fmt.Errorf("%w: outcome %q: want missed or answered", ErrBadRequest, f.Outcome)
	}
	if len(f.Number) > 64 {
		return f, fmt.Errorf("%w: number too long", ErrBadRequest)
	}
	var err error
	if f.Limit, err = intParam(q, "limit", history.DefaultLimit, 1, history.MaxLimit); err != nil {
		return f, err
	}
	if f.Offset, err = intParam(q, "offset", 0, 0, math.MaxInt32); err != nil {
		return f, err
	}
	return f, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s %q: want a number from %d to %d", ErrBadRequest, name, s, lo, hi)
	}
	return n, nil
}

func (s *Server) historyPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := HistoryView{
		Meta:  s.meta(r, "History", "history"),
		Query: HistoryQuery{Number: q.Get("number"), Source: q.Get("source"), Outcome: q.Get("outcome")},
	}
	for _, st := range s.deps.Hub.Snapshot().Sources() {
		v.Sources = append(v.Sources, string(st.Name))
	}
	f, err := historyFilter(q)
	switch {
	case err != nil:
		v.Error = err.Error()
	case s.deps.History == nil:
		v.Error = ErrNoHistory.Error() + "."
	default:
		page, err := s.deps.History.Query(r.Context(), f)
		if err != nil {
			s.log.Error("history query", "err", err)
			v.Error = "The history could not be searched; see the server log."
			break
		}
		now := s.now()
		for _, c := range page.Calls {
			v.Rows = append(v.Rows, callView(c, now, nil))
		}
		v.Total = page.Total
		if len(v.Rows) > 0 {
			v.From, v.To = f.Offset+1, f.Offset+len(v.Rows)
		}
		if f.Offset > 0 {
			v.PrevURL = pageURL(q, max(0, f.Offset-f.Limit))
		}
		if f.Offset+len(v.Rows) < page.Total {
			v.NextURL = pageURL(q, f.Offset+f.Limit)
		}
	}
	s.render(w, r, http.StatusOK, HistoryPage(v))
	return nil
}

func pageURL(q url.Values, offset int) string {
	n := url.Values{}
	for _, k := range []string{"number", "source", "outcome", "limit"} {
		if v := q.Get(k); v != "" {
			n.Set(k, v)
		}
	}
	if offset > 0 {
		n.Set("offset", strconv.Itoa(offset))
	}
	if len(n) == 0 {
		return "/history"
	}
	return "/history?" + n.Encode()
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

// clientIP is the peer address; proxies' forwarding headers are not
// trusted, as anyone can send them.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	if _, ok := s.authenticate(r); ok {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	s.renderLogin(w, r, http.StatusOK, "", r.URL.Query().Get("next"), "")
	return nil
}

// renderLogin shows the sign-in form with a fresh double-submit token.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, name, next, msg string) {
	tok := randomToken(24)
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: tok, Path: "/login", MaxAge: 3600,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookie(r),
	})
	v := LoginView{Meta: s.meta(r, "Sign in", ""), CSRF: tok, Name: name, Next: localPath(next), Error: msg}
	s.render(w, r, status, LoginPage(v))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: sign-in form: %v", ErrBadRequest, err)
	}
	name, pass, next := r.PostFormValue("name"), r.PostFormValue("password"), r.PostFormValue("next")
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		s.renderLogin(w, r, http.StatusForbidden, name, next, "The sign-in form expired. Please try again.")
		return nil
	}
	ip := clientIP(r)
	if wait := s.limiter.wait(ip, name); wait > 0 {
		s.log.Info("sign-in rate limited", "user", name, "remote", ip)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		s.renderLogin(w, r, http.StatusTooManyRequests, name, next,
			fmt.Sprintf("Too many failed sign-in attempts. Try again in %d seconds.", int(wait.Seconds()+0.999)))
		return nil
	}
	u, known := s.users[name]
	hash := s.dummyHash
	if known {
		hash = []byte(u.PasswordHash)
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(pass)); err != nil || !known {
		s.limiter.fail(ip, name)
		s.log.Info("sign-in failed", "user", name, "remote", ip)
		s.renderLogin(w, r, http.StatusUnauthorized, name, next, "Wrong name or password.")
		return nil
	}
	sess := s.sessions.create(u)
	s.setSessionCookie(w, r, sess.id)
	s.clearCookie(w, r, loginCookie)
	s.log.Info("signed in", "user", u.Name, "role", u.Role, "remote", ip)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.delete(c.Value)
	}
	s.clearCookie(w, r, sessionCookie)
	if u, ok := UserFrom(r.Context()); ok {
		s.log.Info("signed out", "user", u.Name)
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// useWallLink turns a one-time wall-screen code into a viewer session and
// moves on to the wallboard, so the code does not stay in the address bar.
func (s *Server) useWallLink(w http.ResponseWriter, r *http.Request) error {
	link, ok := s.walls.use(r.PathValue("code"))
	if !ok {
		s.log.Info("wall-screen link refused", "remote", clientIP(r))
		return fmt.Errorf("%w: this wall-screen link is unknown, used or expired; create a new one on the wallboard", ErrNotFound)
	}
	sess := s.sessions.create(User{Name: wallSessionUser, Role: RoleViewer})
	s.setSessionCookie(w, r, sess.id)
	s.log.Info("wall-screen link used", "created_by", link.creator, "remote", clientIP(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
