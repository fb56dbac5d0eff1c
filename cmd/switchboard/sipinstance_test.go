package main

import (
	"errors"
	"slices"
	"testing"

	"github.com/switchboard/switchboard/monitor"
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

// TestOwnCallsKeepsThisNodesLegs: of the active calls a shared history
// kept, a node settles its sources' calls and, of an account's calls, only
// its own legs (in a cluster every node rings one of a forked call).
func TestOwnCallsKeepsThisNodesLegs(t *testing.T) {
	cfg := &config{Accounts: []sipbridge.AccountConfig{{Name: "office"}}, Cluster: cluster.Config{Node: "sb-1"}, clustered: true}
	kept := []monitor.Call{
		{ID: "office:abc@sb-1", Source: "office"},
		{ID: "office:abc@sb-2", Source: "office"},
		{ID: "office:abc@sb-10", Source: "office"},
		{ID: "other:x", Source: "other"},
	}
	got := ownCalls(cfg, slices.Clone(kept))
	if len(got) != 1 || got[0].ID != "office:abc@sb-1" {
		t.Errorf("clustered node sb-1 keeps %+v, want only its own leg", got)
	}
	cfg.clustered = false
	if got := ownCalls(cfg, slices.Clone(kept)); len(got) != 3 {
		t.Errorf("a node alone keeps %+v, want every office call", got)
	}
}
