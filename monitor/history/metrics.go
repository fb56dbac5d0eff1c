package history

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descQueued     = prometheus.NewDesc("switchboard_history_queued", "Call changes waiting to be saved.", nil, nil)
	descCapacity   = prometheus.NewDesc("switchboard_history_queue_capacity", "How many call changes may wait to be saved.", nil, nil)
	descBehind     = prometheus.NewDesc("switchboard_history_behind_seconds", "Age of the call change being saved now; 0 when the queue is idle.", nil, nil)
	descSaved      = prometheus.NewDesc("switchboard_history_saved_total", "Call changes saved from the queue (ended calls into the history, active ones into active_calls).", nil, nil)
	descUnsaved    = prometheus.NewDesc("switchboard_history_unsaved_total", "Call changes not saved from the queue, by reason: overflow (queue full), error (the save failed or the database was down), shutdown (still queued when the store closed). Each went to the retry spool unless counted lost.", []string{"reason"}, nil)
	descUnlogged   = prometheus.NewDesc("switchboard_history_unsaved_unlogged_total", "Unsaved call changes that never reached the retry spool, because too many were waiting for it.", nil, nil)
	descSpooled    = prometheus.NewDesc("switchboard_history_spooled", "Call changes waiting in the retry spool for the database.", nil, nil)
	descSpoolBytes = prometheus.NewDesc("switchboard_history_spool_bytes", "Size of the retry spool file.", nil, nil)
	descSpoolLimit = prometheus.NewDesc("switchboard_history_spool_limit_bytes", "How big the retry spool may grow.", nil, nil)
	descSpoolIn    = prometheus.NewDesc("switchboard_history_spooled_total", "Call changes written to the retry spool.", nil, nil)
	descSpoolOut   = prometheus.NewDesc("switchboard_history_spool_saved_total", "Call changes saved from the retry spool.", nil, nil)
	descLost       = prometheus.NewDesc("switchboard_history_lost_total", "Call changes lost for good, by reason: spool-full, spool-error (the spool could not be written or read).", []string{"reason"}, nil)
	descWritable   = prometheus.NewDesc("switchboard_history_writable", "1 when the history database takes writes, 0 while it cannot be written.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descCapacity, descBehind, descSaved, descUnsaved, descUnlogged,
		descSpooled, descSpoolBytes, descSpoolLimit, descSpoolIn, descSpoolOut, descLost, descWritable} {
		ch <- d
	}
}

// Collect implements prometheus.Collector, reading the queue's and the
// spool's totals at scrape time.
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
	n, size, _ := s.spool.stats()
	send(ch, descSpooled, prometheus.GaugeValue, float64(n))
	send(ch, descSpoolBytes, prometheus.GaugeValue, float64(size))
	send(ch, descSpoolLimit, prometheus.GaugeValue, float64(s.spoolLimit))
	send(ch, descSpoolIn, prometheus.CounterValue, float64(s.spooled.Load()))
	send(ch, descSpoolOut, prometheus.CounterValue, float64(s.spoolSaved.Load()))
	send(ch, descLost, prometheus.CounterValue, float64(s.lostFull.Load()), "spool-full")
	send(ch, descLost, prometheus.CounterValue, float64(s.lostError.Load()), "spool-error")
	writable := 1.0
	if s.down.Load() {
		writable = 0
	}
	send(ch, descWritable, prometheus.GaugeValue, writable)
}

// send emits one sample; the label counts are fixed above, so an error
// (a programming mistake) drops the sample instead of panicking.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}
