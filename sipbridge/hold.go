package sipbridge

import "context"

// Hold puts the call on hold: a re-INVITE offering a=sendonly (a=inactive
// when the far end already holds). It returns once the far end answered;
// a glare (491) is retried after the RFC 3261 section 14.1 wait. While
// held, the page's audio is not sent and the far end's is not passed on.
// Holding a held call does nothing; a refusal returns ErrRefused and
// leaves the call as it was. ctx bounds the wait for an exchange already
// in progress and the glare wait; a re-INVITE once sent is waited for to
// its answer (at most the 32 s transaction timeout), since giving it up
// would leave the session in doubt. No answer at all, 408 or 481 end the
// call (RFC 3261 section 14.1).
func (c *Call) Hold(ctx context.Context) error { return c.setHold(ctx, true) }

// Resume takes the call off hold: a re-INVITE offering a=sendrecv. It
// returns once the far end answered; audio flows again at once unless the
// far end holds the call itself.
func (c *Call) Resume(ctx context.Context) error { return c.setHold(ctx, false) }
