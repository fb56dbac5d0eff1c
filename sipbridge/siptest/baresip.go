package siptest

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unregisterWait bounds how long Reregister lets the old user agent's
// un-REGISTER run; on loopback it is answered within milliseconds, and
// baresip 1.0 reports no event when the answer is a challenge.
const unregisterWait = time.Second

// placeholder matches a template key left unreplaced.
var placeholder = regexp.MustCompile(`@[A-Z_]+@`)

// rtpPortsPerPhone is the size of each phone's RTP port range: baresip
// picks a random even port in it per call and uses the next one for RTCP.
const rtpPortsPerPhone = 16

// BaresipOptions configures StartBaresip.
type BaresipOptions struct {
	// User is the SIP user (e.g. "1001"); required.
	User string
	// Password is the digest password; empty means [Password](User).
	Password string
	// Registrar is the registrar's "host:port", e.g. [Kamailio.Addr];
	// required. Use an IP literal: baresip would ask the system's DNS.
	Registrar string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// ToneHz is the tone the phone sends (baresip's ausine source, whole
	// Hz); 0 means 440. Ignored when ToneWAV is set.
	ToneHz float64
	// ToneWAV, if set, is an absolute path of a 48000 Hz stereo 16-bit WAV
	// that the phone plays instead (once; make it longer than the call).
	// [WriteToneWAV] makes one.
	ToneWAV string
	// Codecs are the audio codecs in order of preference, in baresip's
	// spelling: "PCMU", "PCMA", "G722/16000/1", "opus/48000/2" (a bare
	// "G722" or "opus" is not found, and baresip then silently offers
	// every codec). Empty means PCMU.
	Codecs []string
	// AutoAnswer makes the phone answer incoming calls at once; otherwise
	// incoming calls ring until [Baresip.Answer].
	AutoAnswer bool
	// RegInt is the registration interval in seconds; 0 means 60.
	RegInt int
}

// Baresip is a running baresip phone owned by one test. Its config,
// log and recordings live in a temp dir of that test.
type Baresip struct {
	t        testing.TB
	opts     BaresipOptions
	dir      string
	recDir   string
	sipPort  int
	ctrlPort int
	account  string
	proc     *process
	ctrl     *ctrlClient
	started  time.Time
}

// StartBaresip starts a baresip phone on 127.0.0.1 with its own SIP,
// control and RTP ports, connects to its ctrl_tcp socket and stops it in
// t.Cleanup (quit over ctrl_tcp, then signals). It does not wait for the
// registration: call [Baresip.WaitRegistered]. It skips or fails t when
// baresip is not installed (see [RequireBinaries]).
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	bin := RequireBinaries(t, "baresip")[0]
	if opts.User == "" || opts.Registrar == "" {
		t.Fatalf("siptest: StartBaresip: User and Registrar are required")
	}
	if opts.Password == "" {
		opts.Password = Password(opts.User)
	}
	if opts.Transport == "" {
		opts.Transport = "udp"
	}
	if opts.RegInt == 0 {
		opts.RegInt = 60
	}
	if len(opts.Codecs) == 0 {
		opts.Codecs = []string{"PCMU"}
	}
	b := &Baresip{
		t:        t,
		opts:     opts,
		dir:      t.TempDir(),
		sipPort:  FreePorts(t, 2), // baresip opens TLS on SIP port + 1
		ctrlPort: FreePort(t),
	}
	b.recDir = filepath.Join(b.dir, "rec")
	rtp := FreePorts(t, rtpPortsPerPhone)
	if err := os.Mkdir(b.recDir, 0o755); err != nil { //nolint:gosec // the peers run as other users and read their files
		t.Fatalf("siptest: %v", err)
	}
	account, err := b.accountLine()
	if err != nil {
		t.Fatalf("siptest: baresip %s: %v", opts.User, err)
	}
	b.account = account
	cfg, err := b.renderConfig(rtp)
	if err != nil {
		t.Fatalf("siptest: baresip %s: %v", opts.User, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config"), cfg, 0o644); err != nil { //nolint:gosec // the peers run as other users and read their files
		t.Fatalf("siptest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "accounts"), []byte(b.account+"\n"), 0o644); err != nil { //nolint:gosec // the peers run as other users and read their files
		t.Fatalf("siptest: %v", err)
	}
	p, err := startProcess("baresip "+opts.User, b.dir, b.LogPath(), bin, "-f", b.dir)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	b.proc = p
	b.started = time.Now()
	t.Cleanup(func() {
		p.dumpOnFailure(t)
		b.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	c, err := dialCtrl(ctx, "127.0.0.1:"+strconv.Itoa(b.ctrlPort), p)
	if err != nil {
		t.Fatalf("siptest: baresip %s: %v\n%s", opts.User, err, p.logTail(4000))
	}
	b.ctrl = c
	return b
}

// accountLine renders testbed/baresip/accounts.tmpl, the phone's line in
// baresip's accounts file.
func (b *Baresip) accountLine() (string, error) {
	tmpl, err := os.ReadFile(filepath.Join(TestbedDir(), "baresip", "accounts.tmpl"))
	if err != nil {
		return "", fmt.Errorf("accounts template: %w", err)
	}
	o := b.opts
	mode := "manual"
	if o.AutoAnswer {
		mode = "auto"
	}
	line := strings.NewReplacer(
		"@USER@", o.User,
		"@REGISTRAR@", o.Registrar,
		"@TRANSPORT@", o.Transport,
		"@PASSWORD@", o.Password,
		"@ANSWERMODE@", mode,
		"@REGINT@", strconv.Itoa(o.RegInt),
		"@CODECS@", strings.Join(o.Codecs, ","),
	).Replace(strings.TrimSpace(string(tmpl)))
	if m := placeholder.FindString(line); m != "" {
		return "", fmt.Errorf("accounts template: unknown placeholder %s", m)
	}
	if o.ToneWAV != "" {
		line += ";audio_source=aufile," + o.ToneWAV
	}
	return line, nil
}

// renderConfig fills testbed/baresip/config.tmpl for this phone.
func (b *Baresip) renderConfig(rtpBase int) ([]byte, error) {
	tmpl, err := os.ReadFile(filepath.Join(TestbedDir(), "baresip", "config.tmpl"))
	if err != nil {
		return nil, fmt.Errorf("config template: %w", err)
	}
	hz := b.opts.ToneHz
	if hz == 0 {
		hz = 440
	}
	r := strings.NewReplacer(
		"@SIP_PORT@", strconv.Itoa(b.sipPort),
		"@CTRL_PORT@", strconv.Itoa(b.ctrlPort),
		"@RTP_PORTS@", fmt.Sprintf("%d-%d", rtpBase, rtpBase+rtpPortsPerPhone-1),
		"@AUDIO_SOURCE@", "ausine,"+strconv.Itoa(int(math.Round(hz))),
		"@NAME@", "siptest"+strconv.Itoa(b.sipPort),
		"@REC_DIR@", b.recDir,
	)
	out := r.Replace(string(tmpl))
	if m := placeholder.FindString(out); m != "" {
		return nil, fmt.Errorf("config template: unknown placeholder %s", m)
	}
	return []byte(out), nil
}

// User returns the phone's SIP user.
func (b *Baresip) User() string { return b.opts.User }

// AOR returns the phone's address of record, "sip:user@registrar".
func (b *Baresip) AOR() string { return "sip:" + b.opts.User + "@" + b.opts.Registrar }

// URI returns the SIP URI that reaches this phone through the registrar,
// with the transport parameter for TCP.
func (b *Baresip) URI() string {
	if b.opts.Transport != "udp" {
		return b.AOR() + ";transport=" + b.opts.Transport
	}
	return b.AOR()
}

// SIPAddr returns the phone's own SIP listener, "127.0.0.1:port".
func (b *Baresip) SIPAddr() string { return "127.0.0.1:" + strconv.Itoa(b.sipPort) }

// Dir returns the phone's folder (config, accounts, log, rec/).
func (b *Baresip) Dir() string { return b.dir }

// LogPath returns the file that holds baresip's output.
func (b *Baresip) LogPath() string { return filepath.Join(b.dir, "baresip.log") }

// Command sends one ctrl_tcp command (as menu.so knows them: "dial",
// "hangup", "accept", "hold", "resume", "reginfo", "listcalls", "quit",
// ...; "help" lists them, the call commands only during a call) and returns
// baresip's response data. An ok=false answer wraps [ErrCommandFailed].
func (b *Baresip) Command(ctx context.Context, cmd, params string) (string, error) {
	r, err := b.ctrl.command(ctx, cmd, params)
	return r.Data, err
}

// WaitRegistered waits until the phone is registered: a REGISTER_OK
// event not yet seen, or "OK" in baresip's reginfo (the first
// registration can finish before the control connection opens, and its
// event is then never sent to us). A failed registration (REGISTER_FAIL
// or "ERR") is returned as an error naming the status line. After a
// registrar restart call [Baresip.Reregister] first: reginfo still shows
// the old binding as OK.
func (b *Baresip) WaitRegistered(ctx context.Context) error {
	match := func(e Event) bool { return e.Type == "REGISTER_OK" || e.Type == "REGISTER_FAIL" }
	lastFail := ""
	for {
		// Events only wake us up early; reginfo decides, because a late
		// answer to an old user agent's un-REGISTER also arrives as
		// REGISTER_OK.
		wctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		ev, err := b.ctrl.waitEvent(wctx, match)
		cancel()
		if err == nil && ev.Type == "REGISTER_FAIL" {
			lastFail = ev.Param
		}
		if ctx.Err() != nil {
			return fmt.Errorf("baresip %s: wait registered: %w (events so far: %s)", b.opts.User, ctx.Err(), b.eventTypes())
		}
		info, err := b.Command(ctx, "reginfo", "")
		if err != nil {
			return fmt.Errorf("baresip %s: wait registered: %w", b.opts.User, err)
		}
		switch regState(info, b.AOR()) {
		case "OK":
			return nil
		case "ERR":
			if lastFail == "" {
				lastFail = b.lastRegError()
			}
			return fmt.Errorf("baresip %s: %w: %s", b.opts.User, ErrRegistration, lastFail)
		}
	}
}

// lastRegError returns the status of the phone's last failed
// registration from its log ("reg: sip:1002@127.0.0.1:5070: 401
// Unauthorized (kamailio ...)"), for when the REGISTER_FAIL event came
// before the control connection.
func (b *Baresip) lastRegError() string {
	log, err := os.ReadFile(b.LogPath())
	if err != nil {
		return "(no log)"
	}
	prefix := "reg: " + b.AOR() + ": "
	found := "(status not logged)"
	for _, line := range strings.Split(string(log), "\n") {
		if i := strings.Index(line, prefix); i >= 0 {
			found = strings.TrimSpace(line[i+len(prefix):])
		}
	}
	return found
}

// regState extracts the state of aor from baresip's reginfo listing, a
// line such as "> sip:1001@127.0.0.1:5070   \x1b[32mOK \x1b[;m kamailio
// ... Expires 60s" (states "OK", "ERR", "zzz" for not yet registered).
func regState(info, aor string) string {
	for _, line := range strings.Split(info, "\n") {
		i := strings.Index(line, aor)
		if i < 0 {
			continue
		}
		// Skip the colour escape before the state, if any.
		rest := strings.TrimLeft(line[i+len(aor):], " ")
		if strings.HasPrefix(rest, "\x1b[") {
			if m := strings.IndexByte(rest, 'm'); m >= 0 {
				rest = rest[m+1:]
			}
		}
		f := strings.Fields(rest)
		if len(f) > 0 {
			return strings.TrimSuffix(f[0], "\x1b[;m")
		}
	}
	return ""
}

// Reregister replaces the phone's user agent by a new one with the same
// account, which registers at once: baresip 1.0's ctrl commands have no
// "register now", and a registrar that restarted forgets the binding
// until the next refresh (RegInt). Follow it with [Baresip.WaitRegistered].
func (b *Baresip) Reregister(ctx context.Context) error {
	if _, err := b.Command(ctx, "uadel", b.AOR()); err != nil {
		return fmt.Errorf("baresip %s: reregister: %w", b.opts.User, err)
	}
	// Let the old user agent's un-REGISTER finish first: answered after
	// the new REGISTER, it would remove the new binding. A registrar that
	// is down never answers, and a challenge is not reported; then go on
	// after unregisterWait.
	wctx, cancel := context.WithTimeout(ctx, unregisterWait)
	_, _ = b.ctrl.waitEvent(wctx, func(e Event) bool {
		return e.Type == "REGISTER_OK" || e.Type == "REGISTER_FAIL" || e.Type == "UNREGISTER_OK" || e.Type == "UNREGISTER_FAIL"
	})
	cancel()
	b.ctrl.consume(func(e Event) bool { return e.Class == "register" })
	if _, err := b.Command(ctx, "uanew", b.account); err != nil {
		return fmt.Errorf("baresip %s: reregister: %w", b.opts.User, err)
	}
	return nil
}

// Dial calls uri (e.g. another phone's [Baresip.URI]); progress arrives as
// events (CALL_RINGING, CALL_ESTABLISHED, CALL_CLOSED).
func (b *Baresip) Dial(ctx context.Context, uri string) error {
	if _, err := b.Command(ctx, "dial", uri); err != nil {
		return fmt.Errorf("baresip %s: dial: %w", b.opts.User, err)
	}
	return nil
}

// Answer accepts the ringing incoming call (for phones without AutoAnswer).
func (b *Baresip) Answer(ctx context.Context) error {
	if _, err := b.Command(ctx, "accept", ""); err != nil {
		return fmt.Errorf("baresip %s: answer: %w", b.opts.User, err)
	}
	return nil
}

// Hangup ends (or rejects, or cancels) the current call.
func (b *Baresip) Hangup(ctx context.Context) error {
	if _, err := b.Command(ctx, "hangup", ""); err != nil {
		return fmt.Errorf("baresip %s: hangup: %w", b.opts.User, err)
	}
	return nil
}

// Hold puts the current call on hold: baresip sends a re-INVITE with
// a=sendonly and goes on sending its tone, as music on hold would
// (ctrl_tcp "hold").
func (b *Baresip) Hold(ctx context.Context) error {
	if _, err := b.Command(ctx, "hold", ""); err != nil {
		return fmt.Errorf("baresip %s: hold: %w", b.opts.User, err)
	}
	return nil
}

// Resume takes the current call off hold: a re-INVITE with a=sendrecv
// (ctrl_tcp "resume").
func (b *Baresip) Resume(ctx context.Context) error {
	if _, err := b.Command(ctx, "resume", ""); err != nil {
		return fmt.Errorf("baresip %s: resume: %w", b.opts.User, err)
	}
	return nil
}

// WaitEvent waits for the oldest not yet returned event of type typ, e.g.
// "CALL_ESTABLISHED" or "CALL_CLOSED". Events are kept from the moment the
// control connection opened, so none is missed by waiting late.
func (b *Baresip) WaitEvent(ctx context.Context, typ string) (Event, error) {
	return b.WaitEventFunc(ctx, func(e Event) bool { return e.Type == typ })
}

// WaitEventFunc waits for the oldest not yet returned event for which
// match is true.
func (b *Baresip) WaitEventFunc(ctx context.Context, match func(Event) bool) (Event, error) {
	ev, err := b.ctrl.waitEvent(ctx, match)
	if err != nil {
		return ev, fmt.Errorf("baresip %s: %w (events so far: %s)", b.opts.User, err, b.eventTypes())
	}
	return ev, nil
}

// Events returns every event received so far, oldest first.
func (b *Baresip) Events() []Event { return b.ctrl.snapshot() }

func (b *Baresip) eventTypes() string {
	var s []string
	for _, e := range b.ctrl.snapshot() {
		s = append(s, e.Type)
	}
	return strings.Join(s, " ")
}

// Recordings returns the newest call's recordings: dec is what the phone
// heard, enc what it sent (baresip's sndfile module, one pair per call,
// 8000 Hz mono for G.711, 48000 Hz stereo for Opus). Both are "" before
// the first call has media.
func (b *Baresip) Recordings() (dec, enc string) {
	return newest(b.recDir, "-dec.wav"), newest(b.recDir, "-enc.wav")
}

// CheckHeard checks the newest call's "heard" recording for wantHz with
// [CheckTone]; without a recording the error wraps [ErrNoRecording].
func (b *Baresip) CheckHeard(wantHz float64) (float64, error) {
	dec, _ := b.Recordings()
	if dec == "" {
		return 0, fmt.Errorf("baresip %s: %w in %s", b.opts.User, ErrNoRecording, b.recDir)
	}
	return CheckTone(dec, wantHz)
}

// WaitRecorded waits until the current call's "heard" recording holds at
// least d of audio after its leading silence, polling the file, so a test
// hangs up only once there is enough to analyse. The WAV header's sizes
// are written at the end, so this counts bytes.
func (b *Baresip) WaitRecorded(ctx context.Context, d time.Duration) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		dec, _ := b.Recordings()
		if dec != "" {
			if s, rate, ch, err := ReadWAV(dec); err == nil && rate > 0 {
				mono := Channel(s, ch, 0)
				if w := signalWindow(mono, rate); w != nil && len(w) >= int(d.Seconds()*float64(rate)) {
					return nil
				}
			}
		}
		if b.proc.exited() {
			return fmt.Errorf("baresip %s: %w while recording", b.opts.User, ErrExited)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("baresip %s: wait for %v of heard audio in %q: %w", b.opts.User, d, dec, ctx.Err())
		case <-tick.C:
		}
	}
}

// newest returns the lexically last file in dir ending in suffix; sndfile
// names carry a timestamp, so that is the newest.
func newest(dir, suffix string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return filepath.Join(dir, names[len(names)-1])
}

// Close stops the phone: "quit" over ctrl_tcp (baresip unregisters and
// exits within about a second), then SIGTERM, which baresip needs twice
// when the registrar is gone, then SIGKILL. Safe to call more than once.
func (b *Baresip) Close() {
	if b.proc == nil || b.proc.exited() {
		if b.ctrl != nil {
			b.ctrl.close()
		}
		return
	}
	if b.ctrl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = b.ctrl.command(ctx, "quit", "")
		cancel()
		t := time.NewTimer(3 * time.Second)
		select {
		case <-b.proc.done:
		case <-t.C:
		}
		t.Stop()
		b.ctrl.close()
	}
	b.proc.stop(stopGrace)
}
