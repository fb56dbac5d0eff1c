package main

import (
	"errors"
	"testing"

	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/sipbridge"
)

func TestSIPInstanceID(t *testing.T) {
	const explicit = "8c6f0d6e-4b5a-4d0b-9f3e-2a1b3c4d5e6f"
	dir := t.TempDir()
	kept, err := sipInstanceID(&config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  config
		want string
	}{
		{"explicit wins", config{SIP: sipbridge.Config{InstanceID: "urn:uuid:" + explicit}, Cluster: cluster.Config{Node: "a"}, clustered: true, DataDir: dir}, explicit},
		{"cluster node a", config{Cluster: cluster.Config{Node: "a"}, clustered: true, DataDir: dir}, sipbridge.NodeInstanceID("a")},
		{"cluster node b", config{Cluster: cluster.Config{Node: "b"}, clustered: true, DataDir: dir}, sipbridge.NodeInstanceID("b")},
		{"single node keeps its id", config{DataDir: dir}, kept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sipInstanceID(&tc.cfg)
			if err != nil || got != tc.want {
				t.Errorf("sipInstanceID = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if sipbridge.NodeInstanceID("a") == kept {
		t.Error("the kept id equals a node's")
	}
	if _, err := sipInstanceID(&config{SIP: sipbridge.Config{InstanceID: "node-a"}, DataDir: dir}); !errors.Is(err, sipbridge.ErrBadInstanceID) {
		t.Errorf("bad instance_id: %v, want ErrBadInstanceID", err)
	}
}
