package gateway

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// What a cap refused, the limit label of
// switchboard_softphone_refused_total.
const (
	limitUserCalls    = "user-calls"
	limitAccountCalls = "account-calls"
	limitDialRate     = "dial-rate"
	limitMessages     = "messages"
	limitRinging      = "ringing"
)

// callLimits counts the softphone's calls per user and per account and
// the dials per user, against the configured caps. Every call the pages
// place or answer holds a slot from its dial (or answer) until it ends:
// one user can hold at most MaxCallsPerUser calls, and so at most that
// many of the SIP side's RTP ports (one port pair per call), whatever
// the others do.
type callLimits struct {
	perUser, perAccount int
	dialsPerMinute      int

	mu       sync.Mutex
	users    map[string]int
	accounts map[string]int
	dials    map[string]*bucket
}

func newCallLimits(cfg Config) *callLimits {
	return &callLimits{
		perUser: cfg.MaxCallsPerUser, perAccount: cfg.MaxCallsPerAccount, dialsPerMinute: cfg.MaxDialsPerMinute,
		users: map[string]int{}, accounts: map[string]int{}, dials: map[string]*bucket{},
	}
}

// refusal is a cap that said no: which, and why in plain words for the
// page.
type refusal struct {
	limit string
	words string
}

func (r *refusal) Error() string { return r.words }

// take reserves a call for user on account, counting a dial against the
// user's dials per minute when dial is set. It returns the release to
// call once the call is over (safe to call more than once), or the cap
// that refused.
func (l *callLimits) take(user, account string, dial bool, now time.Time) (func(), *refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.users[user]; n >= l.perUser {
		return nil, &refusal{limitUserCalls, "You have " + strconv.Itoa(n) + " calls already, as many as you may have at once. Hang one up first."}
	}
	if n := l.accounts[account]; n >= l.perAccount {
		return nil, &refusal{limitAccountCalls, fmt.Sprintf("The account %s has %d calls already, as many as it may have at once. Try again when one has ended.", account, n)}
	}
	if dial {
		b := l.dials[user]
		if b == nil {
			b = newBucket(float64(l.dialsPerMinute), float64(l.dialsPerMinute)/60, now)
			l.dials[user] = b
		}
		if !b.take(now) {
			return nil, &refusal{limitDialRate, "You placed " + strconv.Itoa(l.dialsPerMinute) + " calls in a short time, as many as you may in a minute. Wait a moment before the next one."}
		}
	}
	l.users[user]++
	l.accounts[account]++
	var once sync.Once
	return func() { once.Do(func() { l.release(user, account) }) }, nil
}

func (l *callLimits) release(user, account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.users[user]--; l.users[user] <= 0 {
		delete(l.users, user)
	}
	if l.accounts[account]--; l.accounts[account] <= 0 {
		delete(l.accounts, account)
	}
}

// calls is how many calls user and account hold now.
func (l *callLimits) calls(user, account string) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.users[user], l.accounts[account]
}

// bucket is a token bucket: size tokens at most, rate tokens a second.
type bucket struct {
	size, rate float64
	tokens     float64
	last       time.Time
}

func newBucket(size, rate float64, now time.Time) *bucket {
	return &bucket{size: size, rate: rate, tokens: size, last: now}
}

// take takes one token at now; false when there is none.
func (b *bucket) take(now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.size, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
