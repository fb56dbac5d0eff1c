package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// shutdownGrace bounds hanging up calls when Run's ctx ends without a
// Shutdown to bound the stop.
const shutdownGrace = 5 * time.Second

// run is Run after the once-only check.
func (b *Bridge) run(ctx context.Context) error {
	select {
	case <-b.stopReq:
		return nil
	default:
	}
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

	// The registrations outlive ctx: they end after the calls, while the
	// registrar still routes in-dialog requests to us.
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
		// Busy lamps end with the registrations: their un-SUBSCRIBEs go
		// out while the stack still answers the notifier's last NOTIFY.
		for _, s := range a.subs {
			regs.Add(1)
			go func() {
				defer regs.Done()
				s.run(regCtx)
			}()
		}
	}
	grace := time.Duration(0)
	select {
	case <-ctx.Done():
		// Nobody bounds this stop but us.
		grace = b.grace
	case <-b.stopReq:
	}
	b.StopAccepting()

	start := time.Now()
	n := b.endCalls(grace)
	if grace == 0 {
		// Shutdown's ctx bounds the wait: when it is forced, the stack
		// closes under the calls still waiting.
		b.waitCalls(st)
	}
	b.log.Info("sip calls ended", "calls", n, "took", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	stopRegs()
	regs.Wait()
	b.log.Info("sip registrations ended", "accounts", len(b.accounts), "took", time.Since(start).Round(time.Millisecond))
	// Closing the stack ends the transactions of calls that did not end
	// in the grace period of a stop nobody bounded, so their goroutines
	// return now.
	st.close()
	b.callsWG.Wait()
	return nil
}

// waitCalls waits for the goroutines of every call. A forced shutdown
// closes the SIP stack first: that terminates the transactions still
// waiting (for an ACK that does not come, say), so their handlers return.
func (b *Bridge) waitCalls(st *sipStack) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.callsWG.Wait()
	}()
	select {
	case <-done:
		return
	case <-b.forceCtx.Done():
	}
	st.close()
	<-done
}

// endCalls hangs up every live call at once and waits until each has
// ended, for at most grace when it is not zero, or until a forced
// shutdown. It returns how many calls there were.
func (b *Bridge) endCalls(grace time.Duration) int {
	hctx, cancel := b.forceCtx, context.CancelFunc(func() {})
	if grace > 0 {
		hctx, cancel = context.WithTimeout(b.forceCtx, grace)
	}
	defer cancel()
	b.mu.Lock()
	calls := make([]*Call, 0, len(b.calls))
	for _, c := range b.calls {
		calls = append(calls, c)
	}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Hangup(hctx); err != nil {
				b.log.Info("sip hangup on shutdown", "call", c.id, "err", err)
			}
		}()
	}
	wg.Wait()
	return len(calls)
}

// handlers routes incoming requests.
func (b *Bridge) handlers(srv *sipgo.Server) {
	// Every handler is guarded (trust.go): a stranger's request that
	// opens something is dropped before it reaches one.
	srv.OnInvite(b.guard(b.onInvite))
	srv.OnAck(b.guard(b.onAck))
	srv.OnBye(b.guard(b.onBye))
	srv.OnOptions(b.guard(b.onOptions))
	srv.OnRefer(b.guard(b.onRefer))
	srv.OnNotify(b.guard(b.onNotify))
	srv.OnInfo(b.guard(b.onInfo))
	srv.OnUpdate(b.guard(b.onUpdate))
	srv.OnNoRoute(b.guard(onNoRoute))
}

// onNoRoute answers a method this side does not handle (RFC 3261 section
// 8.2.1: 405 with Allow).
func onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	_ = tx.Respond(res)
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
