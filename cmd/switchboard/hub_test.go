package main

import (
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

func newTestHub(t *testing.T) *monitor.Hub {
	t.Helper()
	h := monitor.NewHub(monitor.HubConfig{})
	t.Cleanup(h.Close)
	return h
}
