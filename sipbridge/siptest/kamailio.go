package siptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readyTimeout bounds how long a peer may take to become ready.
const readyTimeout = 15 * time.Second

// Users are the accounts the test registrar knows: user 1000..1005 with
// password "pw" + user (see testbed/kamailio/kamailio.cfg).
var Users = []string{"1000", "1001", "1002", "1003", "1004", "1005"}

// Password returns the test registrar's password for user, "pw" + user.
func Password(user string) string { return "pw" + user }

// KamailioOptions configures StartKamailio. The zero value is ready to use.
type KamailioOptions struct {
	// Port is the SIP port for UDP and TCP on 127.0.0.1; 0 picks a free one.
	Port int
	// Config is the configuration file; empty means the testbed's
	// kamailio/kamailio.cfg. The file must take the LISTEN_UDP/LISTEN_TCP
	// defines.
	Config string
	// Debug is kamailio's log level (--debug; 3 logs every message's
	// route); 0 keeps the config's level (1, errors and notices).
	Debug int
	// Presence runs the testbed's kamailio/kamailio-presence.cfg (unless
	// Config names another): the registrar plus a presence server for
	// the dialog event package (busy lamps), which needs the Debian
	// package kamailio-presence-modules. Its db_text folder is made in
	// the test's temp dir.
	Presence bool
}

// presenceTables are the db_text tables the presence and pua modules
// check at start (their versions); with their state in memory they stay
// empty.
var presenceTables = []string{"version", "presentity", "active_watchers", "watchers", "xcap", "pua"}

// dbtextSchema is where Debian's kamailio keeps the db_text table files.
const dbtextSchema = "/usr/share/kamailio/dbtext/kamailio"

// presenceDB makes a db_text folder in dir for the presence modules.
func presenceDB(dir string) (string, error) {
	db := filepath.Join(dir, "db")
	if err := os.MkdirAll(db, 0o755); err != nil { //nolint:gosec // kamailio may run as another user and read it
		return "", err
	}
	for _, tbl := range presenceTables {
		b, err := os.ReadFile(filepath.Join(dbtextSchema, tbl))
		if err != nil {
			return "", fmt.Errorf("presence db: %w", err)
		}
		if err := os.WriteFile(filepath.Join(db, tbl), b, 0o644); err != nil { //nolint:gosec // as above
			return "", fmt.Errorf("presence db: %w", err)
		}
	}
	return db, nil
}

// Kamailio is a running kamailio registrar/proxy owned by one test.
type Kamailio struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string

	mu   sync.Mutex
	proc *process
	runs int
}

// StartKamailio starts kamailio in the foreground on 127.0.0.1, waits until
// it answers a SIP OPTIONS probe over UDP and accepts TCP connections, and
// stops it in t.Cleanup. It skips or fails t when kamailio is not installed
// (see [RequireBinaries]).
func StartKamailio(t testing.TB, opts KamailioOptions) *Kamailio {
	t.Helper()
	bin := RequireBinaries(t, "kamailio")[0]
	cfg := opts.Config
	if cfg == "" {
		name := "kamailio.cfg"
		if opts.Presence {
			name = "kamailio-presence.cfg"
		}
		cfg = filepath.Join(TestbedDir(), "kamailio", name)
	}
	if opts.Presence {
		RequirePeer(t, "kamailio presence modules (Debian package kamailio-presence-modules)", presenceModules())
	}
	port := opts.Port
	if port == 0 {
		port = FreePort(t)
	}
	dir := t.TempDir()
	listen := "127.0.0.1:" + strconv.Itoa(port)
	k := &Kamailio{
		t: t, bin: bin, dir: dir, port: port,
		args: []string{
			"-f", cfg, "-DD", "-E",
			"-A", "LISTEN_UDP=udp:" + listen,
			"-A", "LISTEN_TCP=tcp:" + listen,
			"-Y", dir, // runtime dir: keeps parallel instances apart
			"-m", "32", "-M", "4",
		},
	}
	if opts.Debug > 0 {
		k.args = append(k.args, "--debug="+strconv.Itoa(opts.Debug))
	}
	if opts.Presence {
		db, err := presenceDB(dir)
		if err != nil {
			t.Fatalf("siptest: %v", err)
		}
		k.args = append(k.args, "-A", `SELF_URI="sip:`+listen+`"`, "-A", `DBURL="text://`+db+`"`)
	}
	t.Cleanup(func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.proc != nil {
			k.proc.dumpOnFailure(t)
			k.proc.stop(stopGrace)
		}
	})
	if err := k.start(); err != nil {
		t.Fatalf("siptest: %v", err)
	}
	return k
}

// Addr returns kamailio's SIP address, "127.0.0.1:port".
func (k *Kamailio) Addr() string { return "127.0.0.1:" + strconv.Itoa(k.port) }

// Port returns kamailio's SIP port (UDP and TCP).
func (k *Kamailio) Port() int { return k.port }

// LogPath returns the file that holds kamailio's log (stderr).
func (k *Kamailio) LogPath() string { return filepath.Join(k.dir, "kamailio.log") }

// Stop stops kamailio (SIGTERM, then SIGKILL) and waits for it to exit.
// Registrations are lost: usrloc is in memory.
func (k *Kamailio) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.proc != nil {
		k.proc.stop(stopGrace)
	}
}

// Restart stops kamailio and starts it again on the same port, as a
// registrar reboot would: every registration is forgotten. It fails t when
// kamailio does not come back.
func (k *Kamailio) Restart() {
	k.t.Helper()
	k.Stop()
	if err := k.start(); err != nil {
		k.t.Fatalf("siptest: restart: %v", err)
	}
}

func (k *Kamailio) start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.proc != nil && !k.proc.exited() {
		return nil
	}
	k.runs++
	if k.runs > 1 {
		appendLog(k.LogPath(), fmt.Sprintf("---- siptest: restart %d ----\n", k.runs-1))
	}
	p, err := startProcess("kamailio", k.dir, k.LogPath(), k.bin, k.args...)
	if err != nil {
		return err
	}
	k.proc = p
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := waitSIPReady(ctx, p, k.Addr()); err != nil {
		p.stop(stopGrace)
		return fmt.Errorf("kamailio on %s: %w\n%s", k.Addr(), err, p.logTail(4000))
	}
	return nil
}

func appendLog(path, line string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) //nolint:gosec // the peers run as other users and read their files
	if err != nil {
		return
	}
	_, _ = f.WriteString(line)
	_ = f.Close()
}

// waitSIPReady probes addr with SIP OPTIONS over UDP until a final response
// arrives, then checks that TCP connects. Any response proves the SIP
// worker processes run (RFC 3261 section 11: OPTIONS queries capabilities
// and may be sent at any time).
func waitSIPReady(ctx context.Context, p *process, addr string) error {
	conn, err := new(net.ListenConfig).ListenPacket(ctx, "udp4", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("probe socket: %w", err)
	}
	defer conn.Close()
	raddr, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return fmt.Errorf("probe address: %w", err)
	}
	local := conn.LocalAddr().String()
	buf := make([]byte, 4096)
	for i := 0; ; i++ {
		if p.exited() {
			return fmt.Errorf("%w before answering OPTIONS: %w", ErrExited, p.err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: no answer to OPTIONS: %w", ErrNotReady, err)
		}
		if _, err := conn.WriteTo(optionsRequest(addr, local, i), raddr); err != nil {
			return fmt.Errorf("probe send: %w", err)
		}
		// The read deadline paces the probes (no sleep): a worker that is
		// not up yet simply leaves this read to time out.
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			continue // ICMP port unreachable surfaces as a read error
		}
		if strings.HasPrefix(string(buf[:n]), "SIP/2.0 ") && !strings.HasPrefix(string(buf[:n]), "SIP/2.0 1") {
			break
		}
	}
	d := net.Dialer{}
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return fmt.Errorf("%w: tcp: %w", ErrNotReady, err)
	}
	return c.Close()
}

// optionsRequest builds an out-of-dialog OPTIONS for the proxy itself.
func optionsRequest(target, local string, seq int) []byte {
	return []byte(fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-siptest-%d-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:siptest@127.0.0.1>;tag=probe%d\r\n"+
		"To: <sip:%s>\r\n"+
		"Call-ID: siptest-probe-%d@127.0.0.1\r\n"+
		"CSeq: %d OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n",
		target, local, os.Getpid(), seq, os.Getpid(), target, os.Getpid(), seq+1))
}

// presenceModules reports whether kamailio's presence modules are
// installed where Debian puts them.
func presenceModules() bool {
	for _, pat := range []string{"/usr/lib/*/kamailio/modules/presence_dialoginfo.so", "/usr/lib/kamailio/modules/presence_dialoginfo.so"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return true
		}
	}
	return false
}
