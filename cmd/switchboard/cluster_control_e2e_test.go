package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
)

// apiPost posts body as JSON to base+path for the signed-in client c, with
// the CSRF token of one of its pages, and returns the answer.
func apiPost(t *testing.T, ctx context.Context, c *http.Client, base, path string, body any) (int, string) {
	t.Helper()
	get := func(method, target string, b io.Reader, csrf string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, method, target, b)
		if err != nil {
			t.Fatal(err)
		}
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	status, page := get(http.MethodGet, base+"history", nil, "")
	_, after, found := strings.Cut(page, `name="csrf-token" content="`)
	token, _, _ := strings.Cut(after, `"`)
	if status != http.StatusOK || !found || token == "" {
		t.Fatalf("%shistory: %d, csrf token found %v", base, status, found)
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return get(http.MethodPost, base+path, strings.NewReader(string(b)), token)
}

// TestServeCallControlAcrossNodes runs two real `switchboard serve`
// processes sharing NATS and one Asterisk stand-in, which only node 1
// connects: a hang-up and an originate asked on node 2's admin API reach
// the stand-in through node 1, both nodes log it, and the Asterisk's
// refusal comes back to node 2 as 409 with its words.
func TestServeCallControlAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nats := natstest.Start(t)
	pbx := amitest.New(t, "admin", "pw")
	pbx.SetChannels(
		ami.M("Channel", "PJSIP/201-00000001", "Uniqueid", "5.1", "Linkedid", "5.1", "CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up"),
		ami.M("Channel", "PJSIP/202-00000002", "Uniqueid", "5.2", "Linkedid", "5.1", "CallerIDNum", "202", "ChannelStateDesc", "Up"),
	)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-anna"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	n1 := startSwitchboard(t, clusterNode{Name: "n1", NATS: nats.URL(), AMI: pbx.Addr(), Admin: string(hash)}.yaml(t))
	if err := pbx.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startSwitchboard(t, clusterNode{Name: "n2", NATS: nats.URL(), AMI: pbx.Addr(), Admin: string(hash)}.yaml(t))
	poll(t, ctx, "node 2 to see node 1 own the source and the call", func() bool {
		if sourceOwner(t, ctx, n2.url, "pbx") != "n1" {
			return false
		}
		_, body := getWithToken(t, ctx, n2.url+"api/calls")
		return strings.Contains(body, `"pbx:5.1"`)
	})
	anna := signIn(t, ctx, n2.url, "anna", "pw-anna")

	if status, body := apiPost(t, ctx, anna, n2.url, "api/originate", map[string]string{"source": "pbx", "from": "201", "to": "0301234"}); status != http.StatusOK {
		t.Fatalf("originate on node 2: %d %s", status, body)
	}
	if status, body := apiPost(t, ctx, anna, n2.url, "api/calls/"+url.PathEscape("pbx:5.1")+"/hangup", map[string]string{}); status != http.StatusOK {
		t.Fatalf("hang-up on node 2: %d %s", status, body)
	}
	var got []string
	for _, a := range pbx.Actions() {
		switch a.Get("Action") {
		case "Originate", "Hangup":
			got = append(got, a.Get("Action")+" "+a.Get("Channel"))
		}
	}
	if want := []string{"Originate PJSIP/201", "Hangup PJSIP/201-00000001", "Hangup PJSIP/202-00000002"}; !slices.Equal(got, want) {
		t.Fatalf("the Asterisk got %q, want %q", got, want)
	}
	for _, w := range []struct {
		p     *process
		parts []string
	}{
		{n2, []string{"cluster: call control forwarded", "action=hangup", "owner=n1", "result=ok"}},
		{n1, []string{"cluster: call control for another node", "action=hangup", "node=n2", "result=ok"}},
		{n2, []string{"call control", "user=anna", "action=originate", "result=ok"}},
	} {
		if _, err := w.p.waitLog(ctx, w.parts...); err != nil {
			t.Fatal(err)
		}
	}

	// The Asterisk says no: node 2 answers as node 1 would, 409 with its
	// words.
	pbx.Refuse("Originate", "Originate failed: extension 0309 unknown")
	status, body := apiPost(t, ctx, anna, n2.url, "api/originate", map[string]string{"source": "pbx", "from": "201", "to": "0309"})
	if status != http.StatusConflict || !strings.Contains(body, "extension 0309 unknown") {
		t.Fatalf("refused originate on node 2: %d %s", status, body)
	}
}
