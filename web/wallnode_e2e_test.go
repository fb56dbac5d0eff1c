package web

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestBrowserWallboardNamesNode: in headless Chromium the wallboard says
// which cluster node connects a source, as first rendered, and live from
// /events when another node takes the source over; a source without a
// node names none.
func TestBrowserWallboardNamesNode(t *testing.T) {
	if testing.Short() || os.Getenv(siptest.EnvE2E) == "off" {
		t.Skip("real-peer test")
	}
	e2e, _ := filepath.Abs(filepath.Join("..", "testbed", "e2e"))
	_, errNode := exec.LookPath("node")
	_, errChromium := os.Stat("/usr/bin/chromium")
	_, errPW := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core"))
	siptest.RequirePeer(t, "node, /usr/bin/chromium and playwright-core", errNode == nil && errChromium == nil && errPW == nil)

	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	pbx := monitor.SourceStatus{Name: "pbx", Type: "ami", State: monitor.LinkConnected, Node: "sb-2"}
	e.hub.SourceStatus(pbx)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "wallboard_node.js", e.ts.URL+"/", "bob", testPassword)
	cmd.Dir = e2e
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var steps []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "STEP ")
		if !ok {
			continue
		}
		name, arg, _ := strings.Cut(line, " ")
		steps = append(steps, name)
		var v struct {
			Text string `json:"text"`
			Home int    `json:"home"`
		}
		if err := json.Unmarshal([]byte(arg), &v); err != nil {
			t.Errorf("step %s: %v", name, err)
		}
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
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser script: %v\n%s", err, stderr.String())
	}
	if want := []string{"first", "takeover"}; !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
}
