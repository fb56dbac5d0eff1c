package web

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/monitor"
)

// collector reads the hub's counters at scrape time, so nothing is
// counted twice and sources need not know Prometheus.
type collector struct {
	hub Hub

	events, parseErrors, unknown, reconnects *prometheus.Desc
	up, activeCalls                          *prometheus.Desc
	subscribers, dropped, published          *prometheus.Desc
}

func newCollector(h Hub) *collector {
	src := []string{"source"}
	return &collector{
		hub:         h,
		events:      prometheus.NewDesc("switchboard_source_events_total", "Events or lines received from a source.", src, nil),
		parseErrors: prometheus.NewDesc("switchboard_source_parse_errors_total", "Malformed lines, frames or events from a source.", src, nil),
		unknown:     prometheus.NewDesc("switchboard_source_unknown_events_total", "Well-formed events a source does not handle.", src, nil),
		reconnects:  prometheus.NewDesc("switchboard_source_reconnects_total", "Connection attempts to a source after the first.", src, nil),
		up:          prometheus.NewDesc("switchboard_source_up", "1 when the source's link delivers events, else 0.", []string{"source", "type"}, nil),
		activeCalls: prometheus.NewDesc("switchboard_active_calls", "Calls not yet ended, per source.", src, nil),
		subscribers: prometheus.NewDesc("switchboard_hub_subscribers", "Live subscribers of the hub (WebSocket clients and others).", nil, nil),
		dropped:     prometheus.NewDesc("switchboard_hub_dropped_subscribers_total", "Subscriptions ended, by reason (slow, shutdown, client-closed, auth-expired).", []string{"reason"}, nil),
		published:   prometheus.NewDesc("switchboard_hub_events_published_total", "Events the hub has published.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.events, c.parseErrors, c.unknown, c.reconnects, c.up, c.activeCalls, c.subscribers, c.dropped, c.published} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for name, k := range c.hub.AllCounters() {
		n := string(name)
		send(ch, c.events, prometheus.CounterValue, float64(k.Events.Load()), n)
		send(ch, c.parseErrors, prometheus.CounterValue, float64(k.ParseErrors.Load()), n)
		send(ch, c.unknown, prometheus.CounterValue, float64(k.Unknown.Load()), n)
		send(ch, c.reconnects, prometheus.CounterValue, float64(k.Reconnects.Load()), n)
	}
	snap := c.hub.Snapshot()
	active := map[monitor.SourceName]int{}
	for _, call := range snap.Calls() {
		active[call.Source]++
	}
	for _, st := range snap.Sources() {
		v := 0.0
		if st.State.Up() {
			v = 1
		}
		send(ch, c.up, prometheus.GaugeValue, v, string(st.Name), st.Type)
		send(ch, c.activeCalls, prometheus.GaugeValue, float64(active[st.Name]), string(st.Name))
	}
	stats := c.hub.Stats()
	send(ch, c.subscribers, prometheus.GaugeValue, float64(stats.Subscribers))
	send(ch, c.published, prometheus.CounterValue, float64(stats.Published))
	for _, why := range monitor.CloseReasons {
		send(ch, c.dropped, prometheus.CounterValue, float64(stats.Dropped[why]), string(why))
	}
}

// send emits one sample; the label counts are fixed above, so an error
// (a programming mistake) drops the sample instead of panicking.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}
