package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestServeBLF runs the whole server with an account watching phone 1001
// through kamailio's presence server (a top-level blf: entry): the lamp
// reaches /events as an extension like any PBX's, in the snapshot and as
// deltas, ringing with the caller named from the phonebook, in use, idle;
// and /healthz shows the subscription active.
func TestServeBLF(t *testing.T) {
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{Presence: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watched := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1001", Registrar: kam.Addr()})
	caller := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: kam.Addr()})
	for _, p := range []*siptest.Baresip{watched, caller} {
		if err := p.WaitRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	book := filepath.Join(t.TempDir(), "contacts.csv")
	if err := os.WriteFile(book, []byte("name,number\nBen Becker,1002\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	router := fritztest.New(t)
	extra := fmt.Sprintf(`phonebooks:
  - path: %s
sip:
  listen: 127.0.0.1:0
  rtp_port_min: 31100
  rtp_port_max: 31199
accounts:
  - name: office
    registrar: %s
    username: "1000"
    password: pw1000
    expires: 60
blf:
  - {target: "1001", name: Anna, group: Sales, account: office}
`, book, kam.Addr())
	url := startServerWith(t, router, extra)
	ev := dialEvents(t, ctx, url, "")
	id := monitor.MakeExtensionID("office", "blf:1001")
	lamp := func(what string, ok func(e monitor.Extension) bool) monitor.Extension {
		t.Helper()
		for {
			_, b, err := ev.conn.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for the lamp %s: %v", what, err)
			}
			var m panelMsg
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("bad message %s: %v", b, err)
			}
			list := m.Extensions
			if m.Extension != nil {
				list = append(list, *m.Extension)
			}
			for _, e := range list {
				if e.ID == id && ok(e) {
					return e
				}
			}
		}
	}
	e := lamp("idle", func(e monitor.Extension) bool { return e.State == monitor.DeviceIdle })
	if e.Name != "Anna" || e.Group != "Sales" || e.Number != "1001" || e.Lamp != monitor.LampFree {
		t.Fatalf("idle lamp %+v", e)
	}
	if err := caller.Dial(ctx, watched.URI()); err != nil {
		t.Fatal(err)
	}
	e = lamp("ringing", func(e monitor.Extension) bool { return e.State == monitor.DeviceRinging })
	if len(e.Peers) != 1 || e.Peers[0].Number != "1002" || e.Peers[0].Name != "Ben Becker" {
		t.Fatalf("ringing lamp's caller %+v", e.Peers)
	}
	if err := watched.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	lamp("in use", func(e monitor.Extension) bool { return e.State == monitor.DeviceInUse && e.Lamp == monitor.LampBusy })
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	lamp("idle again", func(e monitor.Extension) bool { return e.State == monitor.DeviceIdle && len(e.Peers) == 0 })

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	// A viewer's /healthz has the target's address taken out.
	if !strings.Contains(string(body), `"subscriptions":[{"target":"[address]@[address]","state":"active"`) {
		t.Fatalf("healthz: %s", body)
	}
}
