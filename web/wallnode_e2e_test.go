package web

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/web/browsertest"
)

// TestBrowserWallboardNamesNode: in headless Chromium the wallboard says
// which cluster node connects a source, as first rendered, and live from
// /events when another node takes the source over; a source without a
// node names none.
func TestBrowserWallboardNamesNode(t *testing.T) {
	browsertest.Require(t)

	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	pbx := monitor.SourceStatus{Name: "pbx", Type: "ami", State: monitor.LinkConnected, Node: "sb-2"}
	e.hub.SourceStatus(pbx)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s := browsertest.Start(ctx, t, browsertest.Options{}, "wallboard_node.js", e.ts.URL+"/", "bob", testPassword)
	for _, name := range []string{"first", "takeover"} {
		var v struct {
			Text string `json:"text"`
			Home int    `json:"home"`
		}
		s.NextInto(ctx, t, name, &v)
		switch name {
		case "first":
			if v.Text != "via sb-2" || v.Home != 0 {
				t.Errorf("first render: pbx %q, want \"via sb-2\"; home names a node %d times, want 0", v.Text, v.Home)
			}
			// sb-3 takes pbx over: its link's first status names it.
			pbx.State, pbx.Node = monitor.LinkResyncing, "sb-3"
			e.hub.SourceStatus(pbx)
		case "takeover":
			if v.Text != "via sb-3" {
				t.Errorf("after the takeover: pbx %q, want \"via sb-3\"", v.Text)
			}
		}
	}
	s.Finish(t)
}
