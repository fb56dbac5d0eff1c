package web

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// session is one signed-in browser. The cookie holds only id; everything
// else stays on the server.
type session struct {
	id      string
	user    User // PasswordHash cleared
	csrf    string
	expires time.Time
	// wall marks a wall screen's session (from a one-time link).
	wall bool
}

// sessionStore keeps sessions in memory; they end after ttl without use,
// on logout, or when the process restarts.
type sessionStore struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]*session
}

func newSessionStore(ttl time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{ttl: ttl, now: now, m: make(map[string]*session)}
}

// randomToken returns n random bytes, URL-safe base64 encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for u, when current (if not nil) still says
// yes under the store's lock: a sign-in checked against credentials that
// have just been replaced gets no session.
func (st *sessionStore) create(u User, wall bool, current func() bool) (session, bool) {
	u.PasswordHash = ""
	now := st.now()
	s := &session{id: randomToken(32), user: u, csrf: randomToken(32), expires: now.Add(st.ttl), wall: wall}
	st.mu.Lock()
	defer st.mu.Unlock()
	if current != nil && !current() {
		return session{}, false
	}
	st.sweepLocked(now)
	st.m[s.id] = s
	return *s, true
}

// exists reports whether the session id is live, without extending it.
func (st *sessionStore) exists(id string) bool {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[id]
	return ok && now.Before(s.expires)
}

// swapUsers runs swap under the store's lock, then ends every session
// drop selects; create's check runs under the same lock, so no session
// is made from credentials that swap replaced.
func (st *sessionStore) swapUsers(swap func(), drop func(*session) bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	swap()
	for id, s := range st.m {
		if drop(s) {
			delete(st.m, id)
		}
	}
}

// touch returns the session id and extends its life; false when it does
// not exist or has expired.
func (st *sessionStore) touch(id string) (session, bool) {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[id]
	if !ok {
		return session{}, false
	}
	if !now.Before(s.expires) {
		delete(st.m, id)
		return session{}, false
	}
	s.expires = now.Add(st.ttl)
	return *s, true
}

// delete ends the session id.
func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, id)
}

// sweepLocked drops expired sessions once the map has grown; st.mu held
// on entry.
func (st *sessionStore) sweepLocked(now time.Time) {
	if len(st.m) < 256 {
		return
	}
	for id, s := range st.m {
		if !now.Before(s.expires) {
			delete(st.m, id)
		}
	}
}
