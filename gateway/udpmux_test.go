package gateway

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// candidatePorts returns the ports of the "a=candidate" lines of sdp.
func candidatePorts(sdp string) []string {
	var ports []string
	for _, l := range strings.Split(sdp, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), "a=candidate:")
		if !ok {
			continue
		}
		// foundation component transport priority address port typ …
		if f := strings.Fields(v); len(f) > 5 {
			ports = append(ports, f[5])
		}
	}
	return ports
}

// TestOneUDPPortForAllPages: with udp_port every page's ICE is on that
// one port (one socket for all pages), each page's calls still relay
// both ways, and the port is free again once the gateway has stopped.
func TestOneUDPPortForAllPages(t *testing.T) {
	cfg := testConfig()
	cfg.UDPPort = uint16(siptest.FreePort(t))
	sip := newFakeSIP(t, "1001")
	g, base := startGateway(t, cfg, sip, map[string][]string{"anna": {"1001"}, "bert": {"1001"}})

	want := fmt.Sprint(cfg.UDPPort)
	for i, user := range []string{"anna", "bert"} {
		b := openBrowser(t, base, user, capPCMU)
		b.mu.Lock()
		answer := b.offers[0]
		b.mu.Unlock()
		ports := candidatePorts(answer)
		if len(ports) == 0 {
			t.Fatalf("%s: the server's answer has no candidates:\n%s", user, answer)
		}
		for _, p := range ports {
			if p != want {
				t.Errorf("%s: candidate port %s, want %s (udp_port) in %v", user, p, want, ports)
			}
		}

		b.send(map[string]any{"type": "dial", "account": "1001", "to": "1002"})
		c := <-sip.dialed
		b.expectCall("trying")
		codec := sipPCMU
		c.progress(sipbridge.StateConnected, &codec)
		b.expectCall("connected")
		b.playTone(440)
		far := startFarEnd(t, c, 1000+float64(i)*500, sipPCMU.PayloadType)
		toFar := far.heard.arm(8000)
		toBrowser := b.heard.arm(8000)
		waitFull(t, toFar, user+": browser → SIP")
		waitFull(t, toBrowser, user+": SIP → browser")
		if hz, _, _ := far.heard.result(); !near(hz, 440) {
			t.Errorf("%s: SIP leg heard %d Hz, want 440", user, hz)
		}
		if hz, _, _ := b.heard.result(); !near(hz, 1000+i*500) {
			t.Errorf("%s: browser heard %d Hz, want %d", user, hz, 1000+i*500)
		}
	}

	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(cfg.UDPPort)})
	if err != nil {
		t.Fatalf("udp_port %d still taken after the gateway stopped: %v", cfg.UDPPort, err)
	}
	_ = c.Close()
}

// TestUDPPortTaken: a port another socket holds is a clear error from
// New, not a gateway without media.
func TestUDPPortTaken(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := testConfig()
	cfg.UDPPort = uint16(c.LocalAddr().(*net.UDPAddr).Port)
	_, err = New(cfg, newFakeSIP(t, "1001"))
	if err == nil || !strings.Contains(err.Error(), "udp_port") {
		t.Fatalf("New with a taken udp_port = %v, want an error naming udp_port", err)
	}
	var se *net.OpError
	if !errors.As(err, &se) {
		t.Errorf("error %v does not carry the socket's error", err)
	}
}
