package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// forkNodeConfig is one node of TestServeSoftphoneAcrossNodes: paula's
// softphone with the account office (1000 at kamailio), its own data_dir,
// a viewer token; extra is more configuration (a cluster: section).
func forkNodeConfig(t *testing.T, dataDir, registrar string, rtp int, extra ...string) string {
	t.Helper()
	return softphoneNode{Registrar: registrar, User: "1000", RTP: rtp,
		More: strings.Join(extra, "") + fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\n", dataDir) + viewerTokenYAML}.yaml(t)
}

// expectEnded reads the page's call messages until the call ends.
func (p *phonePage) expectEnded(ctx context.Context) phoneCall {
	p.t.Helper()
	for {
		m := p.expect(ctx, "call")
		var c phoneCall
		if err := json.Unmarshal(m.Call, &c); err != nil {
			p.t.Fatalf("call message %s: %v", m.Call, err)
		}
		if c.State == "ended" {
			return c
		}
	}
}

// incomingID waits for the page to ring and returns the call's id.
func (p *phonePage) incomingID(ctx context.Context) string {
	p.t.Helper()
	m := p.expect(ctx, "incoming")
	var c phoneCall
	if err := json.Unmarshal(m.Call, &c); err != nil || c.ID == "" {
		p.t.Fatalf("incoming message %s: %v", m.Call, err)
	}
	return c.ID
}

// listenPCMU collects a second and a half of the PCMU the page receives
// and sends back what it heard, dominant frequency.
func (p *phonePage) listenPCMU() <-chan float64 {
	heard := make(chan float64, 1)
	p.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypePCMU) {
			p.fail(fmt.Errorf("page receives %s, want PCMU (the caller offers only PCMU)", tr.Codec().MimeType))
			return
		}
		var pcm []int16
		for len(pcm) < 8000*3/2 {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			pcm = siptest.MuLawDecode(pcm, pkt.Payload)
		}
		heard <- siptest.DominantFrequency(pcm, 8000)
	})
	return heard
}

// sendTone writes a PCMU tone of hz on the page's microphone every 20 ms
// until stop.
func (p *phonePage) sendTone(hz float64, stop <-chan struct{}) {
	const samples = 160
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pcm := make([]int16, samples)
	for n := 0; ; n++ {
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(n*samples+i)/8000))
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: uint32(n * samples), SSRC: 0x1234},
			Payload: siptest.MuLawEncode(nil, pcm)}
		if err := p.mic.WriteRTP(pkt); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// TestServeSoftphoneAcrossNodes: two `switchboard serve` processes
// register the same account at kamailio, each with its own instance id
// (kept in its data_dir); paula has the softphone page open on both. A
// baresip phone calls the account: kamailio forks to both nodes, both
// pages ring; paula answers on node A, node B's page ends the call as
// answered elsewhere (not missed, in its history too) and the audio flows
// both ways on node A. Once with two nodes alone, once with the two
// joined in a cluster through NATS, where each node's leg of the call has
// an id of its own and both nodes' histories have both legs.
func TestServeSoftphoneAcrossNodes(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "baresip")
	t.Run("alone", func(t *testing.T) { testSoftphoneAcrossNodes(t, false) })
	t.Run("cluster", func(t *testing.T) { testSoftphoneAcrossNodes(t, true) })
}

func testSoftphoneAcrossNodes(t *testing.T, clustered bool) {
	t.Helper()
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dirA, dirB := t.TempDir(), t.TempDir()
	rtpA, rtpB := siptest.FreePorts(t, 20), siptest.FreePorts(t, 20)
	var extraA, extraB string
	if clustered {
		nats := natstest.Start(t)
		extraA = fmt.Sprintf("cluster:\n  node: sb-a\n  nats: {url: %q}\n", nats.URL())
		extraB = fmt.Sprintf("cluster:\n  node: sb-b\n  nats: {url: %q}\n", nats.URL())
	}
	nodeA := startSwitchboard(t, forkNodeConfig(t, dirA, k.Addr(), rtpA, extraA))
	nodeB := startSwitchboard(t, forkNodeConfig(t, dirB, k.Addr(), rtpB, extraB))
	registered := map[monitor.SourceName]monitor.LinkState{"office": monitor.LinkRegistered}
	subscribeEvents(t, ctx, nodeA.url, e2eToken, registered)
	subscribeEvents(t, ctx, nodeB.url, e2eToken, registered)
	for _, n := range []*process{nodeA, nodeB} {
		if _, err := n.waitLog(ctx, `msg="sip instance"`); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := instanceOf(nodeA.log()), instanceOf(nodeB.log()); a == "" || a == b {
		t.Fatalf("the nodes register with instance ids %q and %q, want two of their own", a, b)
	}

	pageA := openPhonePage(t, ctx, nodeA.url, signIn(t, ctx, nodeA.url, "paula", "pw-paula"))
	pageB := openPhonePage(t, ctx, nodeB.url, signIn(t, ctx, nodeB.url, "paula", "pw-paula"))
	heard := pageA.listenPCMU()

	phone := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1001", Registrar: k.Addr(), ToneHz: 1000, Codecs: []string{"PCMU"}})
	if err := phone.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if err := phone.Dial(ctx, "sip:1000@"+k.Addr()); err != nil {
		t.Fatal(err)
	}
	idA, idB := pageA.incomingID(ctx), pageB.incomingID(ctx)
	if clustered {
		// One SIP Call-ID, a leg per node.
		callID, _ := strings.CutSuffix(idA, "@sb-a")
		if !strings.HasSuffix(idA, "@sb-a") || idB != callID+"@sb-b" {
			t.Errorf("the legs' ids are %s and %s, want one Call-ID tagged @sb-a and @sb-b", idA, idB)
		}
	} else if idA != idB {
		t.Errorf("the legs' ids are %s and %s, want the same office:<Call-ID> on nodes alone", idA, idB)
	}

	pageA.send(ctx, map[string]any{"type": "answer", "call": idA})
	pageA.expectCall(ctx, "connected")
	ended := pageB.expectEnded(ctx)
	if ended.Reason != string(monitor.ReasonAnsweredElsewhere) || ended.Message != "Answered on another device" {
		t.Errorf("node B's page ended the call %+v, want answered-elsewhere, \"Answered on another device\"", ended)
	}
	if _, err := phone.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() { defer close(sent); pageA.sendTone(440, stop) }()
	select {
	case hz := <-heard:
		if hz < 970 || hz > 1030 {
			t.Errorf("page A heard %.0f Hz from the phone, want 1000", hz)
		}
	case <-ctx.Done():
		t.Fatalf("page A heard nothing: %v", pageA.failed)
	}
	if err := phone.WaitRecorded(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if c := pageA.expectEnded(ctx); c.Reason != string(monitor.ReasonCompleted) {
		t.Errorf("node A's call ended %+v, want completed", c)
	}
	close(stop)
	<-sent
	if hz, err := phone.CheckHeard(440); err != nil {
		t.Errorf("the phone heard %.0f Hz from page A: %v", hz, err)
	}

	// B stops first: it removes its own binding only, A still answers
	// for the account; then A's goes too.
	nodeB.signal(syscall.SIGTERM)
	if code := nodeB.waitExit(45 * time.Second); code != 0 {
		t.Errorf("node B exit status %d", code)
	}
	if code := probeUser(t, k.Addr(), "1000"); code != 200 {
		t.Errorf("probe after node B stopped = %d, want 200 (node A's binding kept)", code)
	}
	nodeA.signal(syscall.SIGTERM)
	if code := nodeA.waitExit(45 * time.Second); code != 0 {
		t.Errorf("node A exit status %d", code)
	}
	if code := probeUser(t, k.Addr(), "1000"); code != 404 {
		t.Errorf("probe after both stopped = %d, want 404 (every binding removed)", code)
	}

	checkForkHistory(t, ctx, dirA, idA, monitor.ReasonCompleted)
	checkForkHistory(t, ctx, dirB, idB, monitor.ReasonAnsweredElsewhere)
	if clustered {
		// Every node's hub is fed from the stream: each history has the
		// other node's leg too, each leg as it ended on its node.
		checkForkHistory(t, ctx, dirA, idB, monitor.ReasonAnsweredElsewhere)
		checkForkHistory(t, ctx, dirB, idA, monitor.ReasonCompleted)
	}
}

// instanceOf reads the instance id a node logged at start.
func instanceOf(log string) string {
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, `msg="sip instance"`) {
			_, v, _ := strings.Cut(line, "instance_id=")
			v, _, _ = strings.Cut(v, " ")
			return v
		}
	}
	return ""
}

// checkForkHistory: the node's history has the call ended with reason,
// and none of its calls among the missed ones.
func checkForkHistory(t *testing.T, ctx context.Context, dir, id string, reason monitor.Reason) {
	t.Helper()
	store, err := history.Open(ctx, filepath.Join(dir, "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	all, err := store.Query(ctx, history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range all.Calls {
		if string(c.ID) == id {
			found = true
			if c.Reason != reason || c.State != monitor.Ended {
				t.Errorf("history of %s has %+v, want ended %s", dir, c, reason)
			}
		}
	}
	if !found {
		t.Errorf("history of %s lacks call %s: %+v", dir, id, all.Calls)
	}
	missed, err := store.Query(ctx, history.Filter{Outcome: history.OutcomeMissed})
	if err != nil || missed.Total != 0 {
		t.Errorf("history of %s has missed calls %+v, %v; want none", dir, missed.Calls, err)
	}
}
