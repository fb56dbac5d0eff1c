package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// clusterNode is one node of the cluster tests: its own data_dir, the
// node's name, NATS at NATS, the viewer token testToken, and the parts a
// test asks for. The sources' names and keys are the same on every node,
// as a cluster needs them.
type clusterNode struct {
	Name     string
	NATS     string
	TTL      time.Duration // the lease TTL; 3 s when zero
	Fritz    string        // a Fritz!Box source "office" at this address
	AMI      string        // an Asterisk source "pbx" at this address
	ESLOut   string        // an esl-outbound source "fs-calls" listening here
	Webhook  string        // a webhook to this URL
	Admin    string        // anna's password hash: she is an admin
	Postgres bool          // the history and sign-ins in $SB_TEST_PG_DSN
}

// yaml is the node's whole configuration.
func (n clusterNode) yaml(t *testing.T) string {
	t.Helper()
	ttl := n.TTL
	if ttl == 0 {
		ttl = 3 * time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\ndata_dir: %s\ncluster:\n  node: %s\n  lease_ttl: %s\n  nats:\n    url: %s\n", t.TempDir(), n.Name, ttl, n.NATS)
	fmt.Fprintf(&b, "tokens:\n  - name: test\n    token: %s\n    role: viewer\n", testToken)
	if n.Postgres {
		b.WriteString("history:\n  driver: postgres\n  dsn: \"${SB_TEST_PG_DSN}\"\n")
	}
	if n.Fritz != "" || n.AMI != "" || n.ESLOut != "" {
		b.WriteString("sources:\n")
	}
	if n.Fritz != "" {
		fmt.Fprintf(&b, "  - name: office\n    type: fritz\n    address: %s\n    location: UTC\n    reconnect_min: 20ms\n    reconnect_max: 200ms\n    link_grace: 100ms\n", n.Fritz)
	}
	if n.AMI != "" {
		fmt.Fprintf(&b, "  - name: pbx\n    type: ami\n    address: %s\n    username: admin\n    secret: pw\n    ping_interval: 1h\n    reconnect_min: 20ms\n    reconnect_max: 200ms\n", n.AMI)
	}
	if n.ESLOut != "" {
		fmt.Fprintf(&b, "  - name: fs-calls\n    type: esl-outbound\n    listen: %s\n    context: office\n", n.ESLOut)
	}
	if n.Admin != "" {
		fmt.Fprintf(&b, "users:\n  - name: anna\n    password_hash: %q\n    role: admin\n", n.Admin)
	}
	if n.Webhook != "" {
		fmt.Fprintf(&b, "webhooks:\n  - url: %s\n    secret: hook-secret\n", n.Webhook)
	}
	return b.String()
}
