package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// SessionKind says what a sign-in is for.
type SessionKind string

// Session kinds.
const (
	// SessionUser is a person signed in with a password; it lives
	// session_ttl from its last use.
	SessionUser SessionKind = "user"
	// SessionDevice is a wall screen signed in by a one-time link: named,
	// listed and revoked by admins, it lives device_ttl from its last use.
	SessionDevice SessionKind = "device"
)

// SessionHash is the hex SHA-256 of a session's secret (the cookie's
// value). Stores keep only the hash, so a copy of the database signs
// nobody in.
type SessionHash string

// hashSecret returns the hash a store keeps for secret.
func hashSecret(secret string) SessionHash {
	sum := sha256.Sum256([]byte(secret))
	return SessionHash(hex.EncodeToString(sum[:]))
}

// csrfOf is the CSRF token of the session whose cookie holds secret:
// derived from the secret, so no store keeps it, and different from the
// stored hash, so the database does not give it away either.
func csrfOf(secret string) string {
	sum := sha256.Sum256([]byte("switchboard csrf\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// grantOf is the fingerprint of the credentials u signs in with: name,
// password hash, role and softphone accounts. A session stands only while
// its user's fingerprint is the same, also across restarts with a changed
// configuration.
func grantOf(u User) string {
	h := sha256.New()
	for _, part := range append([]string{u.Name, u.PasswordHash, string(u.Role)}, u.Accounts...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// randomToken returns n random bytes, URL-safe base64 encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// StoredSession is a sign-in as a SessionStore keeps it. Its secret is
// not part of it: the browser's cookie holds the secret, the store its
// Hash.
type StoredSession struct {
	// ID names the sign-in in the devices list, in revocations and in
	// logs. It is not a secret and signs nobody in.
	ID string
	// Hash is the SHA-256 of the cookie's secret.
	Hash SessionHash
	Kind SessionKind
	// Name is the user's name, or the device's.
	Name string
	Role Role
	// Accounts are the softphone accounts of an SSO sign-in, as the
	// provider's claims named them (others take them from the
	// configuration).
	Accounts []string
	// Grant is the fingerprint of the user's credentials at sign-in
	// (users only; see grantOf).
	Grant string
	// CreatedBy is the admin who made a device's link, or the provider
	// of an SSO sign-in ("oidc:" + issuer).
	CreatedBy string
	// Address is the client address that signed in.
	Address string
	// Created is when it signed in, Seen when it was last used (as
	// recorded: uses are written at most every few minutes), Expires when
	// it ends unless used again.
	Created, Seen, Expires time.Time
}

// SessionStore keeps the server's sign-ins, so that they survive a
// restart and can be revoked. The server decides about expiry and
// renewal with its own clock; a store only keeps what it is given. Its
// methods are safe for concurrent use. An implementation over SQLite is
// web/sessiondb; NewMemorySessions keeps them in memory.
type SessionStore interface {
	// CreateSession stores a new sign-in.
	CreateSession(ctx context.Context, s StoredSession) error
	// LookupSession returns the sign-in whose secret hashes to h, expired
	// or not; ErrNoSession when there is none.
	LookupSession(ctx context.Context, h SessionHash) (StoredSession, error)
	// TouchSession records a use of the sign-in h: when it was seen and
	// when it now expires. A sign-in that is gone is no error.
	TouchSession(ctx context.Context, h SessionHash, seen, expires time.Time) error
	// RevokeSession deletes the sign-in with ID id and reports whether
	// there was one.
	RevokeSession(ctx context.Context, id string) (bool, error)
	// RevokeUserSessions deletes every sign-in of kind SessionUser of the
	// user name and returns how many there were.
	RevokeUserSessions(ctx context.Context, name string) (int, error)
	// ListSessions returns the sign-ins of kind, newest first.
	ListSessions(ctx context.Context, kind SessionKind) ([]StoredSession, error)
	// DeleteExpiredSessions deletes every sign-in that expired before now
	// and returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	// UserLanguage returns the language the user name chose on a page
	// ("de"); empty when they chose none.
	UserLanguage(ctx context.Context, name string) (string, error)
	// SetUserLanguage records the language the user name chose.
	SetUserLanguage(ctx context.Context, name, lang string) error
}

// MemorySessions is a SessionStore in memory: sign-ins end with the
// process. For tests, and for a server without a database.
type MemorySessions struct {
	mu   sync.Mutex
	m    map[SessionHash]StoredSession
	lang map[string]string
}

var _ SessionStore = (*MemorySessions)(nil)

// NewMemorySessions returns an empty in-memory store.
func NewMemorySessions() *MemorySessions {
	return &MemorySessions{m: map[SessionHash]StoredSession{}, lang: map[string]string{}}
}

// CreateSession stores s; a second sign-in with the same hash or ID is
// ErrSessionExists.
func (m *MemorySessions) CreateSession(_ context.Context, s StoredSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[s.Hash]; ok {
		return ErrSessionExists
	}
	for _, o := range m.m {
		if o.ID == s.ID {
			return ErrSessionExists
		}
	}
	s.Accounts = slices.Clone(s.Accounts)
	m.m[s.Hash] = s
	return nil
}

// LookupSession returns the sign-in h.
func (m *MemorySessions) LookupSession(_ context.Context, h SessionHash) (StoredSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[h]
	if !ok {
		return StoredSession{}, ErrNoSession
	}
	return s, nil
}

// TouchSession records a use of h.
func (m *MemorySessions) TouchSession(_ context.Context, h SessionHash, seen, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.m[h]; ok {
		s.Seen, s.Expires = seen, expires
		m.m[h] = s
	}
	return nil
}

// RevokeSession deletes the sign-in id.
func (m *MemorySessions) RevokeSession(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, s := range m.m {
		if s.ID == id {
			delete(m.m, h)
			return true, nil
		}
	}
	return false, nil
}

// RevokeUserSessions deletes every user sign-in of name.
func (m *MemorySessions) RevokeUserSessions(_ context.Context, name string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for h, s := range m.m {
		if s.Kind == SessionUser && s.Name == name {
			delete(m.m, h)
			n++
		}
	}
	return n, nil
}

// ListSessions returns the sign-ins of kind, newest first.
func (m *MemorySessions) ListSessions(_ context.Context, kind SessionKind) ([]StoredSession, error) {
	m.mu.Lock()
	out := []StoredSession{}
	for _, s := range m.m {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	m.mu.Unlock()
	sortSessions(out)
	return out, nil
}

// sortSessions orders sign-ins newest first, then by ID, as every store
// lists them.
func sortSessions(ss []StoredSession) {
	sort.Slice(ss, func(i, j int) bool {
		if !ss[i].Created.Equal(ss[j].Created) {
			return ss[i].Created.After(ss[j].Created)
		}
		return strings.Compare(ss[i].ID, ss[j].ID) < 0
	})
}

// DeleteExpiredSessions deletes what expired before now.
func (m *MemorySessions) DeleteExpiredSessions(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for h, s := range m.m {
		if s.Expires.Before(now) {
			delete(m.m, h)
			n++
		}
	}
	return n, nil
}

// UserLanguage returns the language name chose.
func (m *MemorySessions) UserLanguage(_ context.Context, name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lang[name], nil
}

// SetUserLanguage records the language name chose.
func (m *MemorySessions) SetUserLanguage(_ context.Context, name, lang string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lang[name] = lang
	return nil
}
