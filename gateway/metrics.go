package gateway

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the two latencies the softphone promises to keep small,
// and what its caps refused.
type metrics struct {
	ring    prometheus.Histogram
	answer  prometheus.Histogram
	refused *prometheus.CounterVec
}

func newMetrics() metrics {
	buckets := []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2}
	return metrics{
		ring: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_softphone_ring_seconds",
			Help:    "Time from an incoming INVITE reaching the gateway to the incoming-call message written to a page.",
			Buckets: buckets,
		}),
		answer: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_softphone_answer_audio_seconds",
			Help:    "Time from a call being answered to its first audio packet sent to the browser.",
			Buckets: buckets,
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_softphone_refused_total",
			Help: "Page requests and calls a cap refused: user-calls, account-calls, dial-rate (dials and answers), messages (page messages over the rate), ringing (incoming calls not shown on a page that rings as many as it may).",
		}, []string{"limit"}),
	}
}

func (m metrics) register(r prometheus.Registerer) error {
	return errors.Join(r.Register(m.ring), r.Register(m.answer), r.Register(m.refused))
}

func (g *Gateway) observeRing(d time.Duration, user string) {
	g.metrics.ring.Observe(d.Seconds())
	g.log.Info("page ringing", "user", user, "after", d)
}

func (g *Gateway) observeAnswer(d time.Duration, user string) {
	g.metrics.answer.Observe(d.Seconds())
	g.log.Info("first audio to page", "user", user, "after_answer", d)
}
