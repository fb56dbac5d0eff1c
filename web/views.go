package web

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// PageMeta is what the page layout needs: the title, the active menu item,
// who is signed in and the request's CSRF token and CSP nonce.
type PageMeta struct {
	// Title is the page title, after "Switchboard · ".
	Title string
	// Active names the menu item to highlight: "wallboard", "history",
	// "phone"; empty for none.
	Active string
	// User and Role are the signed-in user; empty on the login page.
	User string
	Role Role
	// CSRF is the token for forms and fetches (meta tag "csrf-token").
	CSRF string
	// Nonce is the request's CSP nonce for script elements.
	Nonce string
	// Scripts are files of static/ the page loads, e.g. "wallboard.js".
	Scripts []string
	// Nav is the menu, already filtered by the user's role.
	Nav []NavItem
	// SignOut is true for cookie sessions, which can sign out.
	SignOut bool
	// Kiosk is the wall-screen frame: no menu, no user, no sign-out, and
	// type that grows with the screen.
	Kiosk bool
	// TimeZone is the display zone's IANA name (meta tag "timezone"),
	// which static/time.js formats every time in.
	TimeZone string
	// Path is the request's path and query, where the language switch
	// comes back to.
	Path string
	// Embed is a view framed by a portal (/embed/...): no menu, compact
	// from 320 px wide.
	Embed bool
	// Theme is "light" or "dark" as the portal asked, or "" to follow
	// the browser's prefers-color-scheme.
	Theme string
	// EmbedOrigins are the portals embedframe.js talks to (meta tag
	// "embed-origins").
	EmbedOrigins []string
	// View names the embed view ("calls", "wallboard") for the style
	// sheet.
	View string
}

// NavItem is one entry of the page menu.
type NavItem struct {
	// Key matches PageMeta.Active.
	Key  string
	Href string
	// Label is the entry's words; given to addNav as a message ID, it is
	// in the request's language in PageMeta.Nav.
	Label string
	// Role is the least role that sees the entry.
	Role Role
}

// NewPageMeta fills a PageMeta from a request handled behind the server's
// authentication (see Server.Handle); scripts are files of static/.
func (s *Server) NewPageMeta(r *http.Request, title, active string, scripts ...string) PageMeta {
	m := PageMeta{Title: title, Active: active, CSRF: CSRFToken(r.Context()), Nonce: nonceFrom(r.Context()), Scripts: scripts, TimeZone: s.zone, Path: localPath(r.URL.RequestURI())}
	if u, ok := UserFrom(r.Context()); ok {
		m.User, m.Role = u.Name, u.Role
		p, _ := r.Context().Value(principalKey{}).(principal)
		m.SignOut = p.sessionID != ""
		for _, n := range s.nav {
			if u.Role.Allows(n.Role) {
				n.Label = T(r.Context(), n.Label)
				m.Nav = append(m.Nav, n)
			}
		}
	}
	return m
}

func (s *Server) meta(r *http.Request, title, active string, scripts ...string) PageMeta {
	return s.NewPageMeta(r, title, active, scripts...)
}

// addNav adds a menu entry; routes calls it beside the route. label
// is a message ID ("nav.history").
func (s *Server) addNav(key, href, label string, role Role) {
	s.nav = append(s.nav, NavItem{Key: key, Href: href, Label: label, Role: role})
}

// CallView is a call as the pages show it.
type CallView struct {
	ID        string
	Source    string
	Direction string
	State     string
	From, To  PartyView
	Line      string
	// Since is when the shown timer starts: the answer time of a
	// connected call, else its start (RFC 3339, for the script).
	Since string
	// Elapsed is the timer's first value, before the script ticks it.
	Elapsed string
	// Started is the start time as the server shows it.
	Started  string
	Duration string
	Reason   string
	Missed   bool
	// Actions are the call-control actions offered on this call (only for
	// admins, only what its source offers).
	Actions []string
	// Result is how an ended call ended, in words with its kind.
	Result ResultView
	// StartedAt is the start time (RFC 3339), for sorting in the script.
	StartedAt string
}

// PartyView is one end of a call.
type PartyView struct {
	Number string
	Name   string
}

// SourceView is a source's status as the pages show it.
type SourceView struct {
	Name  string
	Type  string
	State string
	Error string
	Since string
	Up    bool
	// Node is the cluster node that connects the source; empty alone.
	Node string
}

func partyView(l *Locale, p monitor.Party) PartyView {
	n := p.Number
	if p.Private && n == "" {
		n = l.T("party.withheld")
	}
	if n == "" {
		n = l.T("party.unknown")
	}
	return PartyView{Number: n, Name: p.Name}
}

// callView converts c as of now, in l's words; actions are those the
// viewer may use on it.
func callView(l *Locale, c monitor.Call, now time.Time, actions []string) CallView {
	since := c.Started
	if !c.Answered.IsZero() {
		since = c.Answered
	}
	v := CallView{
		ID: string(c.ID), Source: string(c.Source), Direction: string(c.Direction), State: string(c.State),
		From: partyView(l, c.From), To: partyView(l, c.To), Line: c.Line,
		Since: since.Format(time.RFC3339), Elapsed: formatSeconds(int64(now.Sub(since).Seconds())),
		Started: formatWhen(l, c.Started, now), Reason: string(c.Reason), Missed: c.Missed(), Actions: actions,
		StartedAt: c.Started.Format(time.RFC3339Nano),
	}
	if c.State == monitor.Ended {
		v.Result = resultOf(c)
		v.Missed = v.Missed && c.Reason != monitor.ReasonAnsweredElsewhere
	}
	if c.State == monitor.Ended {
		v.Duration = formatSeconds(c.Duration)
	}
	return v
}

// formatSeconds shows a duration as m:ss or h:mm:ss.
func formatSeconds(sec int64) string {
	if sec < 0 {
		sec = 0
	}
	h, m, s := sec/3600, sec/60%60, sec%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// formatWhen shows a time of today as 15:04:05 and older ones with the
// date in l's way (31.12.2026 15:04, 2026-12-31 15:04); 24-hour in
// every language.
func formatWhen(l *Locale, t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(now.Location())
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return l.Date(t) + " " + t.Format("15:04")
}

func sourceView(l *Locale, st monitor.SourceStatus, now time.Time) SourceView {
	return SourceView{
		Name: string(st.Name), Type: st.Type, State: string(st.State), Error: st.Error,
		Since: formatWhen(l, st.Since, now), Up: st.State.Up(), Node: st.Node,
	}
}

// controlActions returns, per source, the per-call actions an admin may
// use; empty for other roles.
func controlActions(role Role, sources []monitor.SourceStatus) map[monitor.SourceName][]string {
	out := map[monitor.SourceName][]string{}
	if !role.Allows(RoleAdmin) {
		return out
	}
	for _, st := range sources {
		for _, a := range st.Actions {
			if a == monitor.ActionHangup || a == monitor.ActionTransfer {
				out[st.Name] = append(out[st.Name], string(a))
			}
		}
	}
	return out
}

// originateSources lists the sources an admin may click-to-dial through.
func originateSources(role Role, sources []monitor.SourceStatus) []string {
	var out []string
	if !role.Allows(RoleAdmin) {
		return out
	}
	for _, st := range sources {
		if slices.Contains(st.Actions, monitor.ActionOriginate) {
			out = append(out, string(st.Name))
		}
	}
	return out
}
