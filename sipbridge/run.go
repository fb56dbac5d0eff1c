package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
)

// shutdownGrace bounds waiting for calls to end on shutdown (BYE, CANCEL
// and their answers); un-REGISTER has its own bound.
const shutdownGrace = 5 * time.Second

// run is Run after the once-only check.
func (b *Bridge) run(ctx context.Context) error {
	st, err := startStack(ctx, b.cfg, b.log, b.handlers, b.listenUDP)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		return fmt.Errorf("sip bridge: %w", err)
	}
	b.mu.Lock()
	b.sip = st
	b.mu.Unlock()
	b.readyOnce.Do(func() { close(b.ready) })
	b.log.Info("sip listening", "addr", st.udpC.LocalAddr().String())

	// Registrations stop after the calls are hung up, not with ctx: the
	// registrar must still route in-dialog requests (BYE) for us.
	regCtx, stopRegs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRegs()
	var regs sync.WaitGroup
	for _, a := range b.accounts {
		if b.sink != nil {
			b.sink.SourceStatus(a.status())
		}
		regs.Add(1)
		go func() {
			defer regs.Done()
			a.runRegistration(regCtx)
		}()
	}
	<-ctx.Done()

	b.hangupAll(ctx)
	stopRegs()
	regs.Wait()
	// Closing the stack ends the transactions of calls that did not end
	// in the grace period, so their goroutines return now.
	st.close()
	b.callsWG.Wait()
	return nil
}

// hangupAll refuses new calls and hangs up every live one, waiting for
// them at most b.grace.
func (b *Bridge) hangupAll(ctx context.Context) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.grace)
	defer cancel()
	b.mu.Lock()
	b.closing = true
	calls := make([]*Call, 0, len(b.calls))
	for _, c := range b.calls {
		calls = append(calls, c)
	}
	b.mu.Unlock()
	// Every call is asked first, so that they end in parallel; Hangup
	// then only waits.
	for _, c := range calls {
		c.askHangup()
	}
	for _, c := range calls {
		if err := c.Hangup(hctx); err != nil {
			b.log.Info("sip hangup on shutdown", "call", c.id, "err", err)
		}
	}
}

// handlers routes incoming requests.
func (b *Bridge) handlers(srv *sipgo.Server) {
	srv.OnInvite(b.onInvite)
	srv.OnAck(b.onAck)
	srv.OnBye(b.onBye)
	srv.OnOptions(b.onOptions)
}

// stack returns the running SIP stack, nil before Run and once it is
// shutting down.
func (b *Bridge) stack() *sipStack {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil
	}
	return b.sip
}

// addCall registers a live call; false when the bridge is shutting down.
func (b *Bridge) addCall(c *Call) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return false
	}
	b.calls[c.key] = c
	b.callsWG.Add(1)
	return true
}

// removeCall forgets an ended call.
func (b *Bridge) removeCall(c *Call) {
	b.mu.Lock()
	if b.calls[c.key] == c {
		delete(b.calls, c.key)
	}
	b.mu.Unlock()
	b.callsWG.Done()
}

// lookupCall returns the live call with SIP Call-ID key.
func (b *Bridge) lookupCall(key string) *Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[key]
}
