package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// callHandle is a SIP call as the gateway tracks it: who owns it, which
// sessions it rings, how the page sees it, and the queue of SIP operations
// the page asked for.
type callHandle struct {
	g   *Gateway
	sip SIPCall
	// invited is when the SIP side handed the call over (incoming).
	invited time.Time

	mu      sync.Mutex
	owner   *Session
	ringing map[*Session]struct{}
	view    PhoneCall
	ended   bool
	// sipMedia is the media state the SIP side last reported; empty until
	// it reports one.
	sipMedia sipbridge.MediaState
	// ops are SIP operations waiting their turn; working is set while a
	// goroutine runs them.
	ops     []func(ctx context.Context)
	working bool
	// release gives back the call's slot of the caps (limits.go);
	// finished is set once its events have ended.
	release  func()
	finished bool
}

// holdSlot makes release give back the call's slot when the call ends,
// at once if it has ended already.
func (c *callHandle) holdSlot(release func()) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		release()
		return
	}
	c.release = release
	c.mu.Unlock()
}

// finish marks the call's events ended and gives its slot back.
func (c *callHandle) finish() {
	c.mu.Lock()
	c.finished = true
	r := c.release
	c.release = nil
	c.mu.Unlock()
	if r != nil {
		r()
	}
}

func newCallHandle(g *Gateway, c SIPCall) *callHandle {
	now := time.Now()
	state := sipbridge.StateTrying
	if c.Direction() == monitor.Inbound {
		state = sipbridge.StateRinging
	}
	return &callHandle{
		g: g, sip: c, invited: now, ringing: map[*Session]struct{}{},
		view: PhoneCall{
			ID: c.ID(), Account: c.Account(), Direction: c.Direction(), State: state, Media: sipbridge.MediaNone,
			Remote: c.Remote(), Started: now,
		},
	}
}

// stateRank orders the call states the page may see; a state missing here
// (added on the SIP side later) is passed through as it comes.
var stateRank = map[sipbridge.CallState]int{
	sipbridge.StateTrying:    1,
	sipbridge.StateRinging:   2,
	sipbridge.StateEarly:     3,
	sipbridge.StateConnected: 4,
	sipbridge.StateEnded:     5,
}

// advances reports whether a call in state from may show state to: the
// page's states never go back (a late 100 Trying after the 180).
func advances(from, to sipbridge.CallState) bool {
	a, okA := stateRank[from]
	b, okB := stateRank[to]
	return !okA || !okB || b >= a
}

// snapshot is the page's view now.
func (c *callHandle) snapshot() PhoneCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view
}

// apply records ev and returns the new view and the sessions to tell.
func (c *callHandle) apply(ev sipbridge.CallEvent) (PhoneCall, []*Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := &c.view
	if ev.Status != 0 {
		v.Status = ev.Status
	}
	if ev.Codec != nil {
		v.Codec = ev.Codec.String()
	}
	// The page sees the SIP side's states as they are, so that a state
	// added there reaches the page without a change here; only never
	// backwards.
	if ev.State == sipbridge.StateEnded || advances(v.State, ev.State) {
		v.State = ev.State
	}
	if ev.Media != "" {
		c.sipMedia = ev.Media
		switch {
		case ev.Media == sipbridge.MediaError:
			v.Message = mediaLostWords(ev.Text)
		case !c.ended:
			v.Message = ""
		}
	}
	switch v.State {
	case sipbridge.StateConnected:
		// Later events repeat the state (media, transfer, digits): the
		// answer is the first.
		if v.Answered.IsZero() {
			v.Answered = time.Now()
		}
	case sipbridge.StateEnded:
		if !c.ended {
			v.Ended = time.Now()
			v.Reason = ev.Reason
			v.Message = plainWords(ev)
			c.ended = true
		}
	}
	v.Media = c.mediaLocked()
	var to []*Session
	if c.owner != nil {
		to = append(to, c.owner)
	}
	if ev.State == sipbridge.StateEnded {
		for s := range c.ringing {
			to = append(to, s)
		}
		c.ringing = map[*Session]struct{}{}
	}
	return c.view, to
}

// mediaLocked is the SIP side's media state: as reported, or, from a SIP
// side that reports none, active while the call has media. c.mu held.
func (c *callHandle) mediaLocked() sipbridge.MediaState {
	switch {
	case c.view.State == sipbridge.StateEnded:
		return sipbridge.MediaNone
	case c.sipMedia != "":
		return c.sipMedia
	case c.view.State == sipbridge.StateConnected, c.view.State == sipbridge.StateEarly && c.view.Codec != "":
		return sipbridge.MediaActive
	}
	return sipbridge.MediaNone
}

// mediaLostWords says that a call's audio was lost, with the SIP side's
// words when it has some.
func mediaLostWords(text string) string {
	if text != "" {
		return text
	}
	return "The call's audio was lost"
}

// addRinging adds s to the sessions ringing; false once answered or over.
// Gateway.mu held on entry.
func (c *callHandle) addRinging(s *Session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != nil || c.ended {
		return false
	}
	c.ringing[s] = struct{}{}
	return true
}

// removeRinging drops s and reports whether the call is now left ringing
// nowhere, unanswered. Gateway.mu held on entry.
func (c *callHandle) removeRinging(s *Session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ringing[s]; !ok {
		return false
	}
	delete(c.ringing, s)
	return len(c.ringing) == 0 && c.owner == nil && !c.ended
}

// claim makes s the owner and returns the other sessions that rang.
// Gateway.mu held on entry.
func (c *callHandle) claim(s *Session) ([]*Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != nil || c.ended {
		return nil, false
	}
	if _, ok := c.ringing[s]; !ok {
		return nil, false
	}
	c.owner = s
	others := make([]*Session, 0, len(c.ringing))
	for o := range c.ringing {
		if o != s {
			others = append(others, o)
		}
	}
	c.ringing = map[*Session]struct{}{}
	return others, true
}

// declineFor stops ringing at every session of user; last reports that
// nobody is left to answer. Gateway.mu held on entry.
func (c *callHandle) declineFor(user string) (stopped []*Session, last bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != nil || c.ended {
		return nil, false
	}
	for s := range c.ringing {
		if s.user.Name == user {
			stopped = append(stopped, s)
			delete(c.ringing, s)
		}
	}
	return stopped, len(stopped) > 0 && len(c.ringing) == 0
}

// setOwner makes s the owner of an outgoing or transferred call.
func (c *callHandle) setOwner(s *Session) {
	c.mu.Lock()
	c.owner = s
	c.mu.Unlock()
}

// ownerSession is the session that owns the call, nil while it rings.
func (c *callHandle) ownerSession() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owner
}

// enqueue runs op after the SIP operations asked for earlier on this call
// (hold, resume, transfer, DTMF), so that they reach the far end in the
// page's order; each gets its own timeout. A hang-up never waits here.
func (c *callHandle) enqueue(op func(ctx context.Context)) {
	c.mu.Lock()
	c.ops = append(c.ops, op)
	start := !c.working
	c.working = true
	c.mu.Unlock()
	if start {
		c.g.spawn(c.work)
	}
}

// work runs the queued operations until none is left.
func (c *callHandle) work() {
	for {
		c.mu.Lock()
		if len(c.ops) == 0 {
			c.working = false
			c.mu.Unlock()
			return
		}
		op := c.ops[0]
		c.ops[0] = nil
		c.ops = c.ops[1:]
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(c.g.ctx, sipTimeout)
		op(ctx)
		cancel()
	}
}

// run queues op and waits for its result or for ctx.
func (c *callHandle) run(ctx context.Context, op func(ctx context.Context) error) error {
	done := make(chan error, 1)
	c.enqueue(func(ctx context.Context) { done <- op(ctx) })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
