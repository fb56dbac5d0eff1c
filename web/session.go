package web

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lifetimes of sign-ins beside session_ttl.
const (
	// DefaultDeviceTTL is how long a wall screen stays signed in without
	// being used (switched off over the holidays, say).
	DefaultDeviceTTL = 90 * 24 * time.Hour
	// maxDeviceTTL is the longest a browser keeps a cookie (Chromium and
	// the cookie draft, RFC 6265bis: 400 days).
	maxDeviceTTL = 400 * 24 * time.Hour
	// sweepEvery is how often signing in also deletes expired sign-ins.
	sweepEvery = time.Hour
	// storeTimeout bounds a store call that has no request behind it.
	storeTimeout = 5 * time.Second
)

// renewEvery is how long a sign-in in use goes before its use is written
// (and its cookie sent again): a fiftieth of its lifetime, at most an
// hour. A page polling every few seconds so costs no write per request,
// and a session ends at most 2 % early.
func renewEvery(ttl time.Duration) time.Duration { return min(ttl/50, time.Hour) }

// ttlOf is how long a sign-in of kind lives from its last use.
func (s *Server) ttlOf(kind SessionKind) time.Duration {
	if kind == SessionDevice {
		return s.cfg.DeviceTTL
	}
	return s.cfg.SessionTTL
}

// newSession stores a sign-in for rec (ID, hash and times are filled in
// here) and returns the secret for its cookie.
func (s *Server) newSession(ctx context.Context, rec StoredSession) (string, StoredSession, error) {
	now := s.now()
	s.sweep(ctx, now)
	secret := randomToken(32)
	rec.ID = randomToken(9)
	rec.Hash = hashSecret(secret)
	rec.Created, rec.Seen, rec.Expires = now, now, now.Add(s.ttlOf(rec.Kind))
	if err := s.sessions.CreateSession(ctx, rec); err != nil {
		return "", StoredSession{}, fmt.Errorf("%w: %w", ErrSessionStore, err)
	}
	return secret, rec, nil
}

// sweep deletes expired sign-ins, at most once per sweepEvery.
func (s *Server) sweep(ctx context.Context, now time.Time) {
	last := s.lastSweep.Load()
	if now.UnixNano()-last < int64(sweepEvery) || !s.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if n, err := s.sessions.DeleteExpiredSessions(ctx, now); err != nil {
		s.log.Warn("expired sign-ins could not be deleted", "err", err)
	} else if n > 0 {
		s.log.Debug("expired sign-ins deleted", "count", n)
	}
}

// sessionPrincipal finds the sign-in whose cookie holds secret and checks
// it: not expired and, for a user, signed in with the credentials
// configured now (a password, role or accounts changed since, also while
// the server was stopped, ends it). A sign-in in use is renewed every
// renewEvery; principal.renewed then asks for its cookie to be sent
// again. Errors: ErrUnauthenticated (errSessionExpired when it has
// expired) when it does not stand, ErrSessionStore when the store failed.
func (s *Server) sessionPrincipal(ctx context.Context, secret string) (principal, error) {
	h := hashSecret(secret)
	rec, err := s.sessions.LookupSession(ctx, h)
	if errors.Is(err, ErrNoSession) {
		return principal{}, ErrUnauthenticated
	}
	if err != nil {
		return principal{}, fmt.Errorf("%w: %w", ErrSessionStore, err)
	}
	now := s.now()
	if !now.Before(rec.Expires) {
		s.forget(ctx, rec, "expired")
		return principal{}, errSessionExpired
	}
	p := principal{sessionID: rec.ID, secret: secret, csrf: csrfOf(secret)}
	switch rec.Kind {
	case SessionDevice:
		// A device only ever reads, whatever a store says.
		p.device = true
		p.user = User{Name: rec.Name, Role: RoleViewer}
	case SessionUser:
		u, ok := s.userByName(rec.Name)
		if !ok || grantOf(u) != rec.Grant {
			s.forget(ctx, rec, "credentials changed")
			return principal{}, ErrUnauthenticated
		}
		u.PasswordHash = ""
		p.user = u
	case SessionSSO:
		u := User{Name: rec.Name, Role: rec.Role, Accounts: rec.Accounts}
		if s.oidc == nil || rec.CreatedBy != s.oidc.source || s.oidc.grant(u) != rec.Grant {
			// The provider or its mapping of groups changed since.
			s.forget(ctx, rec, "single sign-on changed")
			return principal{}, ErrUnauthenticated
		}
		p.user, p.via = u, rec.CreatedBy
	default:
		return principal{}, ErrUnauthenticated
	}
	ttl := s.ttlOf(rec.Kind)
	if now.Sub(rec.Seen) >= renewEvery(ttl) {
		if err := s.sessions.TouchSession(ctx, h, now, now.Add(ttl)); err != nil {
			// It stands until its old expiry; the next use tries again.
			s.log.Warn("sign-in could not be renewed", "session", rec.ID, "err", err)
		} else {
			p.renewed = true
		}
	}
	return p, nil
}

// forget deletes a sign-in found no longer standing; a failure is only
// logged, the next sweep deletes it.
func (s *Server) forget(ctx context.Context, rec StoredSession, why string) {
	if _, err := s.sessions.RevokeSession(ctx, rec.ID); err != nil {
		s.log.Warn("sign-in could not be deleted", "session", rec.ID, "why", why, "err", err)
	}
}

// stillSignedIn reports whether p's sign-in still stands, for a socket's
// periodic check (which also renews it). A store that cannot answer does
// not end a socket: only a sign-in known to be gone does.
func (s *Server) stillSignedIn(ctx context.Context, p principal) bool {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	_, err := s.sessionPrincipal(ctx, p.secret)
	if err != nil && !errors.Is(err, ErrUnauthenticated) {
		s.log.Warn("sign-in could not be checked; the socket stays", "session", p.sessionID, "err", err)
		return true
	}
	return err == nil
}
