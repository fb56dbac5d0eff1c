package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// proxyAuth believes the user a trusted reverse proxy names in a header
// (auth.proxy_header).
type proxyAuth struct {
	cfg     ProxyHeaderConfig
	proxies proxySet
	// key derives the CSRF tokens of proxy users, who have no session
	// secret to derive them from; new at every start.
	key []byte
}

func newProxyAuth(cfg ProxyHeaderConfig) *proxyAuth {
	cfg = cfg.withDefaults()
	ps, _ := parseProxies(cfg.TrustedProxies) // validate checked them
	return &proxyAuth{cfg: cfg, proxies: ps, key: []byte(randomToken(32))}
}

// csrf is the CSRF token of the proxy user name.
func (a *proxyAuth) csrf(name string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("switchboard proxy csrf\x00" + name))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// proxyPrincipal is the user the trusted proxy names in r. ok is false
// when there is none: no proxy_header configured, a peer that is not a
// listed proxy (whose header is ignored, as anyone can send it), or no
// header. A named user in no mapped group is an error.
func (s *Server) proxyPrincipal(r *http.Request) (principal, bool, error) {
	a := s.proxyAuth
	if a == nil {
		return principal{}, false, nil
	}
	name := strings.TrimSpace(r.Header.Get(a.cfg.Header))
	if name == "" || !a.proxies.contains(peerAddr(r)) {
		return principal{}, false, nil
	}
	u, err := s.ssoUser([]string{name}, splitList(r.Header.Values(a.cfg.GroupsHeader)),
		splitList(r.Header.Values(a.cfg.AccountsHeader)), a.cfg.RoleMap, viaProxy)
	if err != nil {
		return principal{}, true, err
	}
	return principal{user: u, via: viaProxy, csrf: a.csrf(u.Name)}, true, nil
}

// splitList reads comma-separated header values, dropping empty ones.
func splitList(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, e := range strings.Split(l, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}
