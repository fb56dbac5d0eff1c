package web

import (
	"context"
	"math"
	"sync"
	"time"
)

// Failed sign-ins slow down the one who fails, never anyone else.
//
// Each (user name, client address) pair has a token bucket: loginBurst
// attempts at once, then one more every loginRefill. A sign-in takes its
// token before the password is checked, atomically, so parallel guesses
// cannot overtake the count; a right password gives it back. Tokens never
// go below zero, so a burst of refused guesses does not push the next
// chance further away.
//
// Two more buckets count failures for a name from every address and from
// an address for every name. They block nothing: when one of them is
// empty (a name guessed at from many addresses, one address guessing many
// names), a pair seen for the first time starts with one attempt instead
// of loginBurst. So a person with the right password from an address
// that has not failed for them always gets their attempt, and a flood of
// made-up names from an office's address leaves their colleagues one try
// each at worst. Every name is counted alike, known or not, so the limits
// never tell which names exist.
const (
	loginBurst     = 5
	loginRefill    = 20 * time.Second
	pressureBurst  = 20
	pressureRefill = 30 * time.Second
	maxLoginKeys   = 10000
	loginRetryMin  = time.Second
)

type bucket struct {
	tokens float64
	last   time.Time
}

// level refills b to now, up to burst, and returns its tokens.
func (b *bucket) level(now time.Time, burst float64, refill time.Duration) float64 {
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()/refill.Seconds())
	b.last = now
	return b.tokens
}

type pairKey struct{ user, addr string }

// loginLimiter holds the sign-in buckets; one mutex, held only for map
// and arithmetic work, never across a password check.
type loginLimiter struct {
	now func() time.Time

	mu    sync.Mutex
	pairs map[pairKey]*bucket
	names map[string]*bucket
	addrs map[string]*bucket
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, pairs: map[pairKey]*bucket{}, names: map[string]*bucket{}, addrs: map[string]*bucket{}}
}

// loginTicket is a token taken for one sign-in. Exactly one of
// succeeded, failed or cancel ends it.
type loginTicket struct {
	l   *loginLimiter
	key pairKey
}

// take reserves an attempt for user from addr (an addrKey). It returns
// the ticket, or how long until the pair may try again.
func (l *loginLimiter) take(user, addr string) (loginTicket, time.Duration) {
	now := l.now()
	k := pairKey{user, addr}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.pairs[k]
	if !ok {
		start := float64(loginBurst)
		if l.pressed(l.names, user, now) || l.pressed(l.addrs, addr, now) {
			start = 1
		}
		b = &bucket{tokens: start, last: now}
		insert(l.pairs, k, b, now, loginBurst, loginRefill)
	}
	if t := b.level(now, loginBurst, loginRefill); t < 1 {
		return loginTicket{}, max(time.Duration((1-t)*float64(loginRefill)), loginRetryMin)
	}
	b.tokens--
	return loginTicket{l: l, key: k}, 0
}

// pressed reports whether m's bucket for k is empty; l.mu held on entry.
func (l *loginLimiter) pressed(m map[string]*bucket, k string, now time.Time) bool {
	b, ok := m[k]
	return ok && b.level(now, pressureBurst, pressureRefill) < 1
}

// succeeded ends t for a right password: the pair starts clean again.
func (t loginTicket) succeeded() {
	if t.l == nil {
		return
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	delete(t.l.pairs, t.key)
}

// cancel gives t's token back: the password was not checked.
func (t loginTicket) cancel() {
	if t.l == nil {
		return
	}
	now := t.l.now()
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	if b, ok := t.l.pairs[t.key]; ok {
		b.level(now, loginBurst, loginRefill)
		b.tokens = math.Min(loginBurst, b.tokens+1)
	}
}

// failed ends t for a wrong password or an unknown name: the token stays
// spent, and the name and the address each count one failure.
func (t loginTicket) failed() {
	if t.l == nil {
		return
	}
	l := t.l
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range []struct {
		m map[string]*bucket
		k string
	}{{l.names, t.key.user}, {l.addrs, t.key.addr}} {
		b, ok := p.m[p.k]
		if !ok {
			b = &bucket{tokens: pressureBurst, last: now}
			insert(p.m, p.k, b, now, pressureBurst, pressureRefill)
		}
		b.tokens = math.Max(0, b.level(now, pressureBurst, pressureRefill)-1)
	}
}

// insert adds b to m, first making room when m holds maxLoginKeys:
// buckets that have refilled are forgotten (they hold nothing), and when
// every one is still in use — failures spread over a great many names or
// addresses — arbitrary ones go, so memory stays bounded; l.mu held on
// entry.
func insert[K comparable](m map[K]*bucket, k K, b *bucket, now time.Time, burst float64, refill time.Duration) {
	if len(m) >= maxLoginKeys {
		for key, old := range m {
			if old.level(now, burst, refill) >= burst {
				delete(m, key)
			}
		}
		for key := range m {
			if len(m) < maxLoginKeys*7/8 {
				break
			}
			delete(m, key)
		}
	}
	m[k] = b
}

// Password checks (bcrypt) are bounded so that sign-ins cannot take the
// server's CPU: at most the configured number run at once, at most
// maxCheckQueue wait for their turn (each at most checkWait), and one
// address has at most maxChecksPerAddr waiting or running, so one client
// cannot fill the queue for everyone.
const (
	maxCheckQueue    = 64
	maxChecksPerAddr = 8
	checkWait        = 5 * time.Second
)

// checkGate is the semaphore in front of the password checks.
type checkGate struct {
	slots chan struct{}

	mu      sync.Mutex
	queued  int
	perAddr map[string]int
}

func newCheckGate(concurrency int) *checkGate {
	return &checkGate{slots: make(chan struct{}, max(1, concurrency)), perAddr: map[string]int{}}
}

// enter waits for a turn to check a password for a client at addr; false
// when the queue or the address's share of it is full, or no turn came
// within checkWait or before ctx ended. leave must follow a true.
func (g *checkGate) enter(ctx context.Context, addr string) bool {
	g.mu.Lock()
	if g.queued >= maxCheckQueue || g.perAddr[addr] >= maxChecksPerAddr {
		g.mu.Unlock()
		return false
	}
	g.queued++
	g.perAddr[addr]++
	g.mu.Unlock()
	t := time.NewTimer(checkWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	g.dequeue(addr)
	return false
}

// leave ends a turn enter gave.
func (g *checkGate) leave(addr string) {
	<-g.slots
	g.dequeue(addr)
}

func (g *checkGate) dequeue(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queued--
	if g.perAddr[addr]--; g.perAddr[addr] <= 0 {
		delete(g.perAddr, addr)
	}
}

// running is the number of checks running now.
func (g *checkGate) running() int { return len(g.slots) }
