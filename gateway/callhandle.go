package gateway

import (
	"sync"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// callHandle is a SIP call as the gateway tracks it: who owns it, which
// sessions it rings, and how the page sees it.
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
}

func newCallHandle(g *Gateway, c SIPCall) *callHandle {
	now := time.Now()
	state := sipbridge.StateTrying
	if c.Direction() == monitor.Inbound {
		state = sipbridge.StateRinging
	}
	return &callHandle{
		g: g, sip: c, invited: now, ringing: map[*Session]struct{}{},
		view: PhoneCall{ID: c.ID(), Account: c.Account(), Direction: c.Direction(), State: state, Remote: c.Remote(), Started: now},
	}
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
	// added there reaches the page without a change here.
	v.State = ev.State
	switch ev.State {
	case sipbridge.StateConnected:
		v.Answered = time.Now()
	case sipbridge.StateEnded:
		v.Ended = time.Now()
		v.Reason = ev.Reason
		v.Message = plainWords(ev)
		c.ended = true
	}
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

// setOwner makes s the owner of an outgoing call.
func (c *callHandle) setOwner(s *Session) {
	c.mu.Lock()
	c.owner = s
	c.mu.Unlock()
}
