package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestServeRegistersAccounts runs the whole server with two SIP accounts
// at a real kamailio: the right password registers, the wrong one shows a
// clear failure, both as sources on the /events stream.
func TestServeRegistersAccounts(t *testing.T) {
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	router := fritztest.New(t)
	extra := fmt.Sprintf(`sip:
  listen: 127.0.0.1:0
  rtp_port_min: 31000
  rtp_port_max: 31099
accounts:
  - name: office
    registrar: %s
    username: "1000"
    password: pw1000
    expires: 60
  - name: wrong
    registrar: %s
    username: "1001"
    password: nope
    expires: 60
`, k.Addr(), k.Addr())
	url := startServerWith(t, router, extra)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev := dialEvents(t, ctx, url, "")
	seen := map[string]monitor.SourceStatus{}
	ev.until(ctx, "office registered and wrong failed", func(m wsMsg) bool {
		list := m.Sources
		if m.Source != nil {
			list = append(list, *m.Source)
		}
		for _, s := range list {
			seen[string(s.Name)] = s
		}
		return seen["office"].State == monitor.LinkRegistered && seen["wrong"].State == monitor.LinkFailed
	})
	if st := seen["wrong"]; !strings.Contains(st.Error, "401") || st.Type != "sip" {
		t.Errorf("wrong password status %+v", st)
	}
}
