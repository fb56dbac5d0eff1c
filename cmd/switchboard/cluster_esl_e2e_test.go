package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
)

// freeTCPAddr is a loopback address no one listens on right now.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeOutboundCallAcrossNodes runs two real `switchboard serve`
// processes sharing NATS, each with an esl-outbound listener; FreeSWITCH
// (the stand-in) hands a call to node 1: a transfer and a hang-up asked
// on node 2's admin API go over that call's socket, both nodes log it,
// and originate stays unsupported.
func TestServeOutboundCallAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nats := natstest.Start(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-anna"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	listen1 := freeTCPAddr(t)
	n1 := startSwitchboard(t, clusterNode{Name: "n1", NATS: nats.URL(), ESLOut: listen1, Admin: string(hash)}.yaml(t))
	n2 := startSwitchboard(t, clusterNode{Name: "n2", NATS: nats.URL(), ESLOut: freeTCPAddr(t), Admin: string(hash)}.yaml(t))

	const uid = "5a1d0065-4e7b-4c3a-9f01-6c2b8d1e0101"
	fs, err := esltest.DialOutboundCall(ctx, listen1, esltest.Event{"Event-Name": "CHANNEL_DATA", "Unique-ID": uid, "Channel-Call-UUID": uid,
		"Call-Direction": "inbound", "Caller-Caller-ID-Number": "+4930123456", "Caller-Destination-Number": "1001", "Caller-Context": "public",
		"Channel-Name": "sofia/external/+4930123456@198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if err := fs.Wait(ctx, func(cmds []string) bool { return cmds[len(cmds)-1] == "resume" }); err != nil {
		t.Fatal(err)
	}
	id := "fs-calls:" + uid
	poll(t, ctx, "node 2 to see the call", func() bool {
		_, body := getWithToken(t, ctx, n2.url+"api/calls")
		return strings.Contains(body, `"`+id+`"`)
	})
	anna := signIn(t, ctx, n2.url, "anna", "pw-anna")

	if status, body := apiPost(t, ctx, anna, n2.url, "api/calls/"+url.PathEscape(id)+"/transfer", map[string]string{"to": "1005"}); status != http.StatusOK {
		t.Fatalf("transfer on node 2: %d %s", status, body)
	}
	if _, err := fs.WaitCommand(ctx, "api uuid_transfer "+uid+" 1005 XML office"); err != nil {
		t.Fatal(err)
	}
	if status, body := apiPost(t, ctx, anna, n2.url, "api/calls/"+url.PathEscape(id)+"/hangup", map[string]string{}); status != http.StatusOK {
		t.Fatalf("hang-up on node 2: %d %s", status, body)
	}
	if _, err := fs.WaitCommand(ctx, "api uuid_kill "+uid+" NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		p     *process
		parts []string
	}{
		{n2, []string{"cluster: call control forwarded", "action=hangup", "owner=n1", "result=ok"}},
		{n1, []string{"cluster: call control for another node", "action=hangup", "node=n2", "result=ok"}},
	} {
		if _, err := w.p.waitLog(ctx, w.parts...); err != nil {
			t.Fatal(err)
		}
	}
	status, body := apiPost(t, ctx, anna, n2.url, "api/originate", map[string]string{"source": "fs-calls", "from": "1001", "to": "1002"})
	if status != http.StatusNotImplemented {
		t.Fatalf("originate on an esl-outbound source: %d %s", status, body)
	}
}
