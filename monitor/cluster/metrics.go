package cluster

import "github.com/prometheus/client_golang/prometheus"

// Lease changes, the label of switchboard_cluster_lease_changes_total.
const (
	leaseAcquired = "acquired"
	leaseLost     = "lost"
	leaseReleased = "released"
)

var (
	descLag = prometheus.NewDesc("switchboard_cluster_stream_lag",
		"Changes of the cluster's stream this node's feed has not applied yet: the stream's last sequence (looked up every second) less the last one applied.", nil, nil)
	descLeaseChanges = prometheus.NewDesc("switchboard_cluster_lease_changes_total",
		"Source leases this node acquired, lost (to another node, or not renewed in time) and released (given up as it stopped).", []string{"change"}, nil)
	descLeasesHeld = prometheus.NewDesc("switchboard_cluster_leases_held",
		"Source leases this node holds now: the sources it connects.", nil, nil)
	descConnected = prometheus.NewDesc("switchboard_cluster_connected",
		"1 while this node's NATS connection is up, else 0.", nil, nil)
)

// Describe implements prometheus.Collector: the node's figures are read
// at scrape time, so a node alone (no cluster) registers none.
func (n *Node) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descLeaseChanges, descLeasesHeld, descConnected} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (n *Node) Collect(ch chan<- prometheus.Metric) {
	ls := n.LeaseStats()
	connected := 0.0
	if n.Connected() {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(n.Lag()))
	ch <- prometheus.MustNewConstMetric(descLeaseChanges, prometheus.CounterValue, float64(ls.Acquired), leaseAcquired)
	ch <- prometheus.MustNewConstMetric(descLeaseChanges, prometheus.CounterValue, float64(ls.Lost), leaseLost)
	ch <- prometheus.MustNewConstMetric(descLeaseChanges, prometheus.CounterValue, float64(ls.Released), leaseReleased)
	ch <- prometheus.MustNewConstMetric(descLeasesHeld, prometheus.GaugeValue, float64(ls.Held))
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected)
}
