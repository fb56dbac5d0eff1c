package web

import (
	"github.com/prometheus/client_golang/prometheus"
)

// webMetrics are what the server counts of its own work: sign-ins,
// sockets, connections and cut requests.
type webMetrics struct {
	logins         *prometheus.CounterVec
	sockets        *prometheus.GaugeVec
	socketsRefused *prometheus.CounterVec
	socketsEnded   *prometheus.CounterVec
	conns          prometheus.Gauge
	connsRefused   *prometheus.CounterVec
	bodyTimeouts   prometheus.Counter
}

// Sign-in results, the label of switchboard_web_logins_total.
const (
	loginOK        = "ok"
	loginWrong     = "wrong"
	loginThrottled = "throttled"
	loginBusy      = "busy"
)

func newWebMetrics(checking func() float64) (*webMetrics, []prometheus.Collector) {
	m := &webMetrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_web_logins_total",
			Help: "Sign-in attempts by result: ok, wrong (password or name), throttled (too many failures, no check made), busy (no turn for a check).",
		}, []string{"result"}),
		sockets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_web_sockets",
			Help: "Open WebSockets by endpoint (events, phone).",
		}, []string{"endpoint"}),
		socketsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_web_sockets_refused_total",
			Help: "WebSockets refused by a cap, by endpoint and cap (user, token, total).",
		}, []string{"endpoint", "limit"}),
		socketsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_web_sockets_ended_total",
			Help: "WebSockets the server closed because their sign-in ended, by endpoint and reason (signed-out, credentials-changed, token-revoked, session-expired).",
		}, []string{"endpoint", "reason"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_web_connections",
			Help: "Open TCP connections to the web server.",
		}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_web_connections_refused_total",
			Help: "TCP connections closed at once by a cap (total, address).",
		}, []string{"limit"}),
		bodyTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_web_body_timeouts_total",
			Help: "Requests whose body did not arrive within body_timeout.",
		}),
	}
	for _, k := range streamKinds {
		m.sockets.WithLabelValues(string(k))
	}
	for _, r := range []string{loginOK, loginWrong, loginThrottled, loginBusy} {
		m.logins.WithLabelValues(r)
	}
	checks := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_web_login_checks_running",
		Help: "Password checks (bcrypt) running now.",
	}, checking)
	return m, []prometheus.Collector{m.logins, m.sockets, m.socketsRefused, m.socketsEnded, m.conns, m.connsRefused, m.bodyTimeouts, checks}
}

// eventsSubscribers is the /events sockets open on this node of a
// cluster, labelled with the node's name, so that a dashboard sums the
// nodes' and sees how a load balancer spreads the wallboards.
func (s *Server) eventsSubscribers(node string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "switchboard_events_subscribers",
		Help:        "Open /events WebSockets on this node of a cluster.",
		ConstLabels: prometheus.Labels{"node": node},
	}, func() float64 { return float64(s.openStreams(streamEvents)) })
}
