package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxySet is the trusted_proxies: the peers whose forwarding headers are
// believed.
type proxySet []netip.Prefix

// parseProxies reads trusted_proxies entries: CIDRs ("10.0.0.0/8") or
// single addresses ("192.0.2.7", "::1").
func parseProxies(entries []string) (proxySet, error) {
	out := make(proxySet, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies %q: want a CIDR such as 10.0.0.0/8 or an address", e)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (ps proxySet) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the TCP peer of r; the zero Addr when
// RemoteAddr is not an address (a handler mounted somewhere unusual).
func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// clientAddr is the one answer to "who is the client" for rate limits,
// caps and logs. It is the TCP peer, unless that peer is a trusted proxy:
// then the forwarding headers are walked from the nearest hop outwards
// (each proxy appends the address it received the request from) and the
// first address that is not a trusted proxy is the client. Forwarded
// (RFC 7239) is read when present, else X-Forwarded-For. A hop the header
// names in a form that is not an address (RFC 7239 "unknown" or an
// obfuscated name) ends the walk at the proxy that wrote it, so nobody
// can pass off a made-up address as their own.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	return forwardedClient(peerAddr(r), r.Header, s.proxies)
}

func forwardedClient(peer netip.Addr, h http.Header, trusted proxySet) netip.Addr {
	if !peer.IsValid() || len(trusted) == 0 || !trusted.contains(peer) {
		return peer
	}
	var hops []string
	if v := h.Values("Forwarded"); len(v) > 0 {
		hops = forwardedFor(v)
	} else {
		for _, line := range h.Values("X-Forwarded-For") {
			for _, e := range strings.Split(line, ",") {
				hops = append(hops, strings.TrimSpace(e))
			}
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		if !trusted.contains(client) {
			break
		}
		a, ok := hopAddr(hops[i])
		if !ok {
			break
		}
		client = a
	}
	return client
}

// forwardedFor returns the for= values of Forwarded header lines, in
// order (RFC 7239 section 4: elements separated by commas, pairs by
// semicolons). An element without for= counts as an unknown hop.
func forwardedFor(lines []string) []string {
	var out []string
	for _, line := range lines {
		for _, elem := range splitOutsideQuotes(line, ',') {
			v := ""
			for _, pair := range splitOutsideQuotes(elem, ';') {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					v = strings.TrimSpace(val)
				}
			}
			out = append(out, v)
		}
	}
	return out
}

// splitOutsideQuotes splits s at sep where sep is not inside a quoted
// string.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// hopAddr reads one hop: an address, optionally with a port, IPv6 in
// brackets when it has one, optionally quoted (Forwarded's node syntax,
// RFC 7239 section 6).
func hopAddr(v string) (netip.Addr, bool) {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	host, _, err := net.SplitHostPort(v)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// addrKey groups client addresses for limits: an IPv4 address as it is,
// an IPv6 address by its /64, the least a site or a home line is given,
// so that one client cannot become millions by changing its low bits.
func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// requestScheme is the scheme the client used: https over our own TLS;
// behind a trusted proxy (which terminates TLS) what its Forwarded
// proto= or X-Forwarded-Proto says, the outermost hop's word; else http.
// From any other peer those headers are ignored.
func (s *Server) requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return forwardedProto(peerAddr(r), r.Header, s.proxies)
}

func forwardedProto(peer netip.Addr, h http.Header, trusted proxySet) string {
	if !peer.IsValid() || len(trusted) == 0 || !trusted.contains(peer) {
		return "http"
	}
	var v string
	if lines := h.Values("Forwarded"); len(lines) > 0 {
		// The first element was written by the proxy the client reached.
		first := splitOutsideQuotes(lines[0], ',')[0]
		for _, pair := range splitOutsideQuotes(first, ';') {
			k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "proto") {
				v = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	} else if x := h.Get("X-Forwarded-Proto"); x != "" {
		v, _, _ = strings.Cut(x, ",")
	}
	if strings.EqualFold(strings.TrimSpace(v), "https") {
		return "https"
	}
	return "http"
}
