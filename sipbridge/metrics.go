package sipbridge

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Why a request was refused, the reason label of
// switchboard_sip_refused_total.
const (
	// refusedStranger: a request from an address that is neither the
	// account's registrar or outbound proxy nor a trusted_sip_sources
	// entry, dropped unanswered.
	refusedStranger = "untrusted-source"
	// refusedRinging: an incoming call over max_ringing_calls, answered
	// 486 Busy Here.
	refusedRinging = "ringing-cap"
)

// bridgeMetrics are the SIP side's counters of refused requests; the
// totals are kept beside the labelled counter for the bridge's own use.
type bridgeMetrics struct {
	refusedTotal *prometheus.CounterVec
	strangers    atomic.Uint64
	overRinging  atomic.Uint64
}

func newBridgeMetrics() *bridgeMetrics {
	return &bridgeMetrics{refusedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_sip_refused_total",
		Help: "SIP requests refused: untrusted-source (dropped unanswered), ringing-cap (incoming call answered 486); account empty when the request named none of ours.",
	}, []string{"account", "reason"})}
}

func (m *bridgeMetrics) register(r prometheus.Registerer) error {
	if err := r.Register(m.refusedTotal); err != nil {
		return fmt.Errorf("sip metrics: %w", err)
	}
	return nil
}

func (m *bridgeMetrics) refused(account, reason string) {
	m.refusedTotal.WithLabelValues(account, reason).Inc()
	switch reason {
	case refusedStranger:
		m.strangers.Add(1)
	case refusedRinging:
		m.overRinging.Add(1)
	}
}
