package history

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descQueued   = prometheus.NewDesc("switchboard_history_queued", "Ended calls waiting to be saved.", nil, nil)
	descCapacity = prometheus.NewDesc("switchboard_history_queue_capacity", "How many ended calls may wait to be saved.", nil, nil)
	descBehind   = prometheus.NewDesc("switchboard_history_behind_seconds", "Age of the call being saved now; 0 when the queue is idle.", nil, nil)
	descSaved    = prometheus.NewDesc("switchboard_history_saved_total", "Ended calls saved.", nil, nil)
	descUnsaved  = prometheus.NewDesc("switchboard_history_unsaved_total", "Ended calls not saved, by reason: overflow (queue full), error (the save failed), shutdown (still queued when the store closed).", []string{"reason"}, nil)
	descUnlogged = prometheus.NewDesc("switchboard_history_unsaved_unlogged_total", "Unsaved calls not even logged, because too many were waiting to be logged.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descCapacity, descBehind, descSaved, descUnsaved, descUnlogged} {
		ch <- d
	}
}

// Collect implements prometheus.Collector, reading the queue's totals at
// scrape time.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	st := s.out.Stats()
	send(ch, descQueued, prometheus.GaugeValue, float64(st.Queued))
	send(ch, descCapacity, prometheus.GaugeValue, float64(st.Size))
	send(ch, descBehind, prometheus.GaugeValue, st.Behind.Seconds())
	send(ch, descSaved, prometheus.CounterValue, float64(st.Handled))
	send(ch, descUnsaved, prometheus.CounterValue, float64(st.Overflow), unsavedOverflow)
	send(ch, descUnsaved, prometheus.CounterValue, float64(st.Failed), unsavedError)
	send(ch, descUnsaved, prometheus.CounterValue, float64(st.Abandoned), unsavedShutdown)
	send(ch, descUnlogged, prometheus.CounterValue, float64(st.Unreported))
}

// send emits one sample; the label counts are fixed above, so an error
// (a programming mistake) drops the sample instead of panicking.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}
