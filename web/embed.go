package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// embedPrefix is where the views a portal frames live.
const embedPrefix = "/embed/"

// embedOrigin is one entry of embed_origins: a scheme and host, the host
// maybe "*." plus a domain (any one or more labels in front of it).
type embedOrigin struct {
	scheme, host string
	wildcard     bool
}

// parseEmbedOrigin reads an embed_origins entry: https://host[:port],
// or https://*.domain[:port]; http only for a loopback host (a test
// portal on the same machine).
func parseEmbedOrigin(raw string) (embedOrigin, error) {
	bad := fmt.Errorf("embed_origins %q: want an origin such as https://portal.example.com or https://*.example.com", raw)
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(raw), "/"))
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, " ;,'\"") {
		return embedOrigin{}, bad
	}
	o := embedOrigin{scheme: u.Scheme, host: strings.ToLower(u.Host)}
	if strings.HasPrefix(o.host, "*.") {
		o.wildcard, o.host = true, o.host[2:]
	}
	if strings.Contains(o.host, "*") || o.host == "" || strings.HasPrefix(o.host, ".") {
		return embedOrigin{}, bad
	}
	switch {
	case o.scheme == "https":
	case o.scheme == "http" && !o.wildcard && isLoopbackHost(u.Hostname()):
	default:
		return embedOrigin{}, fmt.Errorf("embed_origins %q: a portal must be served over https (http only for a loopback test portal)", raw)
	}
	return o, nil
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
}

// String is the origin as CSP and the pages' scripts write it.
func (o embedOrigin) String() string {
	if o.wildcard {
		return o.scheme + "://*." + o.host
	}
	return o.scheme + "://" + o.host
}

// embedViewsHeaders are the CSP frame-ancestors of an embed view and of
// the sign-in page a framed view may land on.
func (s *Server) embedAncestors() string {
	out := []string{"'self'"}
	for _, raw := range s.cfg.EmbedOrigins {
		if o, err := parseEmbedOrigin(raw); err == nil {
			out = append(out, o.String())
		}
	}
	return strings.Join(out, " ")
}

// framedPath reports whether path may be framed by the portals: the
// embed views and the sign-in a framed view sends an anonymous visitor
// to.
func framedPath(path string) bool {
	return strings.HasPrefix(path, embedPrefix) || path == "/login"
}

// Theme is the light or dark look an embed view follows: "light",
// "dark", or "" for the browser's prefers-color-scheme.
func themeOf(r *http.Request) string {
	switch t := r.URL.Query().Get("theme"); t {
	case "light", "dark":
		return t
	}
	return ""
}

// embedMeta fills the frame of an embed view: no menu, the theme asked
// for, and the portals embedframe.js may talk to.
func (s *Server) embedMeta(r *http.Request, m PageMeta) PageMeta {
	m.Embed, m.Kiosk, m.Theme = true, false, themeOf(r)
	for _, raw := range s.cfg.EmbedOrigins {
		if o, err := parseEmbedOrigin(raw); err == nil {
			m.EmbedOrigins = append(m.EmbedOrigins, o.String())
		}
	}
	m.Scripts = append(m.Scripts, "embedframe.js")
	return m
}

// embedPhone is the compact softphone for a portal's side bar.
func (s *Server) embedPhone(w http.ResponseWriter, r *http.Request) error {
	v := s.phoneView(r)
	v.Meta = s.embedMeta(r, v.Meta)
	s.render(w, r, http.StatusOK, Softphone(v))
	return nil
}

// embedWallboard is the board without chrome, from a 320×240 tile up.
func (s *Server) embedWallboard(w http.ResponseWriter, r *http.Request) error {
	return s.boardView(w, r, true, func(m PageMeta) PageMeta {
		m = s.embedMeta(r, m)
		m.View = "wallboard"
		return m
	}, nil)
}

// embedCalls is the live calls only: all of them, those on the lines
// (SIP accounts, trunks) ?line= names, or with ?mine=1 those on the
// signed-in user's softphone accounts.
func (s *Server) embedCalls(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var lines []string
	for _, l := range q["line"] {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, clip(l))
		}
	}
	if q.Get("mine") == "1" {
		u, _ := UserFrom(r.Context())
		// A user without accounts has no calls of their own: an empty,
		// non-nil list shows none.
		lines = append(append([]string{}, lines...), u.Accounts...)
	}
	if len(lines) > maxLines {
		return fmt.Errorf("%w: at most %d lines", ErrBadRequest, maxLines)
	}
	return s.boardView(w, r, true, func(m PageMeta) PageMeta {
		m = s.embedMeta(r, m)
		m.View = "calls"
		return m
	}, lines)
}

// maxLines bounds the lines one calls view lists.
const maxLines = 64
