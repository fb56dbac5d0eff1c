package web

import (
	"math"
	"sync"
	"time"
)

// Failed sign-ins are limited per client address and per user name with a
// token bucket: loginBurst failures at once, then one every loginRefill.
const (
	loginBurst    = 5
	loginRefill   = 20 * time.Second
	maxLoginKeys  = 10000
	loginKeyIP    = "ip:"
	loginKeyUser  = "user:"
	loginRetryMin = time.Second
)

type bucket struct {
	tokens float64
	last   time.Time
}

// loginLimiter counts failed sign-ins. Only failures take tokens, so a
// user who types the right password is never slowed.
type loginLimiter struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, m: make(map[string]*bucket)}
}

// level refills b to now and returns its tokens; l.mu held on entry.
func (l *loginLimiter) level(b *bucket, now time.Time) float64 {
	b.tokens = math.Min(loginBurst, b.tokens+now.Sub(b.last).Seconds()/loginRefill.Seconds())
	b.last = now
	return b.tokens
}

// wait returns how long the client at ip must wait before trying user
// again; zero when it may try now.
func (l *loginLimiter) wait(ip, user string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	for _, k := range []string{loginKeyIP + ip, loginKeyUser + user} {
		b, ok := l.m[k]
		if !ok {
			continue
		}
		if t := l.level(b, now); t < 1 {
			d := time.Duration((1 - t) * float64(loginRefill))
			longest = max(longest, max(d, loginRetryMin))
		}
	}
	return longest
}

// fail records a failed sign-in.
func (l *loginLimiter) fail(ip, user string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) >= maxLoginKeys {
		l.sweepLocked(now)
	}
	for _, k := range []string{loginKeyIP + ip, loginKeyUser + user} {
		b, ok := l.m[k]
		if !ok {
			if len(l.m) >= maxLoginKeys {
				// Still full of recent failures: an attack spread over many
				// addresses. Count it against the existing keys only.
				continue
			}
			b = &bucket{tokens: loginBurst, last: now}
			l.m[k] = b
		}
		l.level(b, now)
		b.tokens--
	}
}

// sweepLocked forgets buckets that have refilled; l.mu held on entry.
func (l *loginLimiter) sweepLocked(now time.Time) {
	for k, b := range l.m {
		if l.level(b, now) >= loginBurst {
			delete(l.m, k)
		}
	}
}
