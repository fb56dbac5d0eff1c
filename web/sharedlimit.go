package web

import (
	"context"
	"time"
)

// LoginFailures keeps failed sign-ins where every server of a cluster
// sees them (web/sessiondb, in the PostgreSQL database the servers
// share), so that the sign-in rate limit of a name and address counts
// the failures on every server, not only on the one a load balancer sent
// the attempt to. Its methods are safe for concurrent use.
type LoginFailures interface {
	// AddLoginFailure records a failed sign-in of name from addr (an
	// address key: an IPv4 address or an IPv6 /64) at at, and forgets
	// everyone's failures from before forget.
	AddLoginFailure(ctx context.Context, name, addr string, at, forget time.Time) error
	// LoginFailures returns the times of the failed sign-ins of name from
	// addr since since, oldest first.
	LoginFailures(ctx context.Context, name, addr string, since time.Time) ([]time.Time, error)
	// ClearLoginFailures forgets the failed sign-ins of name from addr (a
	// right password).
	ClearLoginFailures(ctx context.Context, name, addr string) error
}

// sharedWindow is how far back the shared failures are read: a pair's
// bucket is full again loginBurst refills after its last failure, so
// older ones no longer hold anyone back (nearly: a pair that kept
// failing just before the window starts is read as starting it full).
const sharedWindow = loginBurst * loginRefill

// sharedWait is how long the pair whose failures (oldest first) are fails
// must wait at now: its bucket played through them, starting full, as
// the local limiter would have had it on a single server.
func sharedWait(fails []time.Time, now time.Time) time.Duration {
	if len(fails) == 0 {
		return 0
	}
	b := bucket{tokens: loginBurst, last: fails[0]}
	for _, f := range fails {
		b.tokens = max(0, b.level(f, loginBurst, loginRefill)-1)
	}
	if t := b.level(now, loginBurst, loginRefill); t < 1 {
		return max(time.Duration((1-t)*float64(loginRefill)), loginRetryMin)
	}
	return 0
}

// sharedThrottle returns how long the pair must wait by the failures
// every server recorded; 0 without a shared store or when it cannot
// answer (the local limit still holds: a database outage does not lock
// everyone out).
func (s *Server) sharedThrottle(ctx context.Context, name, addr string) time.Duration {
	if s.deps.LoginFailures == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	now := s.now()
	fails, err := s.deps.LoginFailures.LoginFailures(ctx, name, addr, now.Add(-sharedWindow))
	if err != nil {
		s.log.Warn("shared sign-in failures could not be read; only this server's count applies", "err", err)
		return 0
	}
	return sharedWait(fails, now)
}

// sharedFailed records a failed sign-in for every server.
func (s *Server) sharedFailed(ctx context.Context, name, addr string) {
	if s.deps.LoginFailures == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	now := s.now()
	if err := s.deps.LoginFailures.AddLoginFailure(ctx, name, addr, now, now.Add(-sharedWindow)); err != nil {
		s.log.Warn("failed sign-in could not be shared with the other servers", "err", err)
	}
}

// sharedSucceeded forgets the pair's failures on every server.
func (s *Server) sharedSucceeded(ctx context.Context, name, addr string) {
	if s.deps.LoginFailures == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := s.deps.LoginFailures.ClearLoginFailures(ctx, name, addr); err != nil {
		s.log.Warn("shared sign-in failures could not be cleared", "err", err)
	}
}
