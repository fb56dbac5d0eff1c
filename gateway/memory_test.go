package gateway

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/switchboard/switchboard/sipbridge"
)

var (
	memCalls   = flag.Int("mem-calls", 100, "BenchmarkCallMemory: calls held at once")
	memProfile = flag.String("mem-profile", "", "BenchmarkCallMemory: write the heap profile with the calls up to this file (with -test.memprofilerate for detail)")
	memStacks  = flag.String("mem-goroutines", "", "BenchmarkCallMemory: write the goroutines with the calls up to this file (grouped by stack)")
	memRTCP    = flag.Int("mem-rtcp", 0, "BenchmarkCallMemory: RTCP reports each page sends before the measurement (720: an hour of a browser's audio reports)")
)

// Environment of the page process of BenchmarkCallMemory.
const (
	envMemPages = "SWITCHBOARD_MEMBENCH_PAGES" // calls to open
	envMemBase  = "SWITCHBOARD_MEMBENCH_BASE"  // the gateway's ws:// base
	envMemRTCP  = "SWITCHBOARD_MEMBENCH_RTCP"  // reports per page
)

// memReady is the line the page process prints once every call's audio
// flows both ways.
const memReady = "MEMBENCH READY"

// BenchmarkCallMemory measures what the gateway keeps per call: N stand-in
// pages (pion, as in the other tests) in a process of their own each dial a
// call through a real Gateway, whose fake SIP side connects it at once with
// an RTP leg that echoes to itself (a loopback socket that sends to its own
// address), so that every packet takes the whole relay both ways. With
// every call's audio heard by its page, it reports this process's live
// heap and goroutine stacks after a collection and its goroutines, per
// call, above what the process held before the first page; the pages'
// memory is the other process's. The SIP side is the tests' fake, not
// sipbridge (a sipbridge call and its RTP leg add their own state).
//
//	go test -run '^$' -bench BenchmarkCallMemory -benchtime 1x ./gateway -args -mem-calls 100
//
// -mem-profile FILE writes the heap profile of that moment (attribution by
// allocation site: -test.memprofilerate 512 before -args), -mem-goroutines
// FILE its goroutines grouped by stack. -mem-rtcp K has each page send K
// RTCP reports first, as a browser does over a long call (libwebrtc sends
// an audio stream's sender report with a reception report and its CNAME
// every ≈5 s: 720 reports an hour).
func BenchmarkCallMemory(b *testing.B) {
	for b.Loop() {
		measureCallMemory(b, *memCalls)
	}
}

// memSample is what the process holds, after a collection.
type memSample struct {
	heap, stacks, goroutines, rss uint64
}

func sampleMemory() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, stacks: ms.StackInuse, goroutines: uint64(runtime.NumGoroutine()), rss: readRSS()}
}

// readRSS is the process's resident set from /proc (0 elsewhere).
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

func measureCallMemory(b *testing.B, n int) {
	b.Helper()
	sip := newFakeSIP(b, "1001")
	sip.onDial = func(c *fakeCall) {
		// The leg's packets come back to it: the SIP peer echoes.
		c.leg.mu.Lock()
		c.leg.peer = c.leg.conn.LocalAddr().(*net.UDPAddr).AddrPort()
		c.leg.mu.Unlock()
		c.connect(sipPCMU)
	}
	go func() {
		for range sip.dialed {
		}
	}()
	b.Cleanup(func() { close(sip.dialed) })
	cfg := testConfig()
	cfg.MaxCallsPerUser, cfg.MaxCallsPerAccount = n, n
	cfg.MaxDialsPerMinute, cfg.PageMessagesPerSecond = n, 1000
	_, base := startGateway(b, cfg, sip, map[string][]string{"anna": {"1001"}}, WithLogger(slog.New(slog.DiscardHandler)))

	before := sampleMemory()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCallMemoryPages$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), envMemPages+"="+strconv.Itoa(n), envMemBase+"="+base, envMemRTCP+"="+strconv.Itoa(*memRTCP))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if sc.Text() == memReady {
			ready = true
			break
		}
	}
	if !ready {
		_ = cmd.Wait()
		b.Fatalf("page process ended before its calls were up:\n%s%s", out.String(), stderr.String())
	}
	during := sampleMemory()
	writeProfile(b, *memProfile, "heap", 0)
	writeProfile(b, *memStacks, "goroutine", 1)
	// The pages hang up and close as their process ends.
	_ = stdin.Close()
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("page process: %v\n%s", err, stderr.String())
	}
	per := func(a, z uint64) float64 { return (float64(a) - float64(z)) / float64(n) }
	b.ReportMetric(per(during.heap, before.heap), "heap-B/call")
	b.ReportMetric(per(during.stacks, before.stacks), "stack-B/call")
	b.ReportMetric(per(during.goroutines, before.goroutines), "goroutines/call")
	b.ReportMetric(per(during.rss, before.rss), "rss-B/call")
}

// sendReports has every page send k RTCP reports of the shape a browser
// sends for its audio stream, one page after the other, a round every 2 ms
// so that the gateway's sockets are not flooded.
func sendReports(t *testing.T, pages []*testBrowser, k int) {
	t.Helper()
	if k <= 0 {
		return
	}
	type report struct {
		p      *testBrowser
		mine   uint32
		theirs uint32
	}
	rs := make([]report, 0, len(pages))
	for i, p := range pages {
		send, recv := p.pc.GetSenders(), p.pc.GetReceivers()
		if len(send) != 1 || len(recv) != 1 || len(send[0].GetParameters().Encodings) != 1 || recv[0].Track() == nil {
			t.Fatalf("page %d has %d senders and %d receivers", i, len(send), len(recv))
		}
		rs = append(rs, report{p: p, mine: uint32(send[0].GetParameters().Encodings[0].SSRC), theirs: uint32(recv[0].Track().SSRC())})
	}
	for round := range k {
		for _, r := range rs {
			if err := r.p.pc.WriteRTCP([]rtcp.Packet{
				&rtcp.SenderReport{SSRC: r.mine, NTPTime: uint64(round), PacketCount: uint32(round), Reports: []rtcp.ReceptionReport{{SSRC: r.theirs, LastSequenceNumber: uint32(round)}}},
				&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: r.mine, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "d1m8pRo/a6ANc+1v"}}}}},
			}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// writeProfile writes the named profile to file, unless file is empty.
func writeProfile(b *testing.B, file, name string, debug int) {
	b.Helper()
	if file == "" {
		return
	}
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	err = pprof.Lookup(name).WriteTo(f, debug)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
}

// TestCallMemoryPages is BenchmarkCallMemory's page process: it opens the
// pages, dials a call from each, sends each a tone and waits until every
// page hears the echo; then it prints memReady and holds the calls until
// its standard input closes. Without the benchmark's environment it skips.
func TestCallMemoryPages(t *testing.T) {
	base := os.Getenv(envMemBase)
	n, _ := strconv.Atoi(os.Getenv(envMemPages))
	if base == "" || n <= 0 {
		t.Skip("the page process of BenchmarkCallMemory")
	}
	pages := make([]*testBrowser, 0, n)
	for range n {
		p := openBrowser(t, base, "anna", capPCMU)
		p.send(map[string]any{"type": "dial", "account": "1001", "to": "echo"})
		p.expectCall(sipbridge.StateConnected)
		p.playTone(1000)
		pages = append(pages, p)
	}
	for i, p := range pages {
		select {
		case <-p.heard.arm(800):
		case <-time.After(testTimeout):
			t.Fatalf("page %d heard no echo within %s", i, testTimeout)
		}
	}
	k, _ := strconv.Atoi(os.Getenv(envMemRTCP))
	sendReports(t, pages, k)
	fmt.Println(memReady)
	// The pages close at the test's end, which hangs up their calls.
	_, _ = io.Copy(io.Discard, os.Stdin)
}
