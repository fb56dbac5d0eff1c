package main

import (
	"fmt"
	"path/filepath"

	"github.com/switchboard/switchboard/sipbridge"
)

// sipInstanceID is the RFC 5626 instance id this node registers its SIP
// accounts with: sip.instance_id when set; else derived from the cluster
// node name, so that each node has its own binding at the registrar and
// keeps it across restarts; else a random id kept in data_dir, so that a
// single node replaces its own binding after a restart instead of adding
// another.
func sipInstanceID(cfg *config) (string, error) {
	switch {
	case cfg.SIP.InstanceID != "":
		id, err := sipbridge.ParseInstanceID(cfg.SIP.InstanceID)
		if err != nil {
			return "", fmt.Errorf("sip: instance_id: %w", err)
		}
		return id, nil
	case cfg.clustered && cfg.Cluster.Node != "":
		return sipbridge.NodeInstanceID(cfg.Cluster.Node), nil
	}
	return sipbridge.LoadInstanceID(filepath.Join(cfg.DataDir, "sip-instance-id"))
}
