package web

import (
	"context"
	"slices"
)

// credentials are the users and tokens the server accepts; replaced as a
// whole (SetCredentials), never changed in place.
type credentials struct {
	users  map[string]User
	tokens []Token
}

func newCredentials(users []User, tokens []Token) *credentials {
	c := &credentials{users: make(map[string]User, len(users)), tokens: slices.Clone(tokens)}
	for _, u := range users {
		c.users[u.Name] = u
	}
	return c
}

// hasToken reports whether t is configured, with the same secret.
func (c *credentials) hasToken(t Token) bool {
	return slices.ContainsFunc(c.tokens, func(o Token) bool { return o.Name == t.Name && o.Token == t.Token && o.Role == t.Role })
}

// sameUser reports whether a session of a signed in as a still stands
// for b: same password, role, softphone accounts and own phone.
func sameUser(a, b User) bool {
	return a.Name == b.Name && a.PasswordHash == b.PasswordHash && a.Role == b.Role && slices.Equal(a.Accounts, b.Accounts) && a.Extension == b.Extension
}

// userCurrent reports whether u (as signed in, without its hash) is still
// configured as it was when it was looked up with hash.
func (c *credentials) userCurrent(u User) bool {
	cur, ok := c.users[u.Name]
	return ok && sameUser(cur, u)
}

// SetCredentials replaces the users and tokens, as a reloaded
// configuration has them. Whoever lost their sign-in by it is signed out
// at once: every session of a user who is gone or whose password, role
// or softphone accounts changed ends, and with it their /events and
// /phone sockets (closed with 1008 and "sign-in changed; sign in
// again"); every /events socket of a token that is gone or changed is
// closed with 1008 "token revoked". Users and tokens that stay the same
// are not disturbed. An invalid set is refused and nothing changes.
func (s *Server) SetCredentials(users []User, tokens []Token) error {
	cfg := s.cfg
	cfg.Users, cfg.Tokens = users, tokens
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	next := newCredentials(cfg.Users, cfg.Tokens)
	old := s.creds.Swap(next)
	var changed, gone []string
	for name, u := range old.users {
		if !next.userCurrent(u) {
			changed = append(changed, name)
		}
	}
	for _, t := range old.tokens {
		if !next.hasToken(t) {
			gone = append(gone, t.Name)
		}
	}
	// A sign-in checked against the old credentials a moment ago may
	// still be stored after this: it carries the old grant, which no
	// longer matches, so its first use ends it (see sessionPrincipal).
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	for _, name := range changed {
		if _, err := s.sessions.RevokeUserSessions(ctx, name); err != nil {
			// Their grant no longer matches: the sessions end at first use.
			s.log.Warn("sessions of a changed user could not be deleted", "user", name, "err", err)
		}
	}
	n := s.endStreams(func(st *openStream) bool {
		return st.p.token == nil && !st.p.device && slices.Contains(changed, st.p.user.Name)
	}, endRevoked)
	n += s.endStreams(func(st *openStream) bool {
		return st.p.token != nil && slices.Contains(gone, st.p.token.Name)
	}, endTokenGone)
	if len(changed) > 0 || len(gone) > 0 {
		s.log.Info("credentials replaced", "users_signed_out", len(changed), "tokens_revoked", len(gone), "sockets_closed", n)
	}
	return nil
}

// userByName looks a configured user up.
func (s *Server) userByName(name string) (User, bool) {
	u, ok := s.creds.Load().users[name]
	return u, ok
}
