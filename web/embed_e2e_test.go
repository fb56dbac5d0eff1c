package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// loopbackCert is a certificate for 127.0.0.1, 127.0.0.2 and 127.0.0.3
// (Switchboard, the portal, another site) and the base64 SHA-256 of its
// public key, which Chromium is told to trust
// (--ignore-certificate-errors-spki-list).
func loopbackCert(t *testing.T) (tls.Certificate, string, [2]string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "switchboard test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 3)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	dir := t.TempDir()
	files := [2]string{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")}
	writePairFiles(t, files, der, key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, base64.StdEncoding.EncodeToString(sum[:]), files
}

func writePairFiles(t *testing.T, files [2]string, der []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range [][]byte{pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", kb)} {
		if err := os.WriteFile(files[i], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// serveTLS serves h over TLS with cert on addr ("127.0.0.2:0").
func serveTLS(t *testing.T, addr string, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	_ = ts.Listener.Close()
	ts.Listener = ln
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// portalPage is the intranet portal's page: embed.js, a docked phone, a
// wallboard tile, a tel: link, and a frame of another site that tries
// to talk to the phone.
const portalPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Intranet</title>
<script src="%[1]s/static/embed.js"></script></head>
<body>
<h1>Intranet</h1>
<p><a id="tel" href="tel:10-02">Call the front desk</a></p>
<switchboard-phone id="phone"></switchboard-phone>
<switchboard-wallboard id="wall" height="300px"></switchboard-wallboard>
<iframe id="other" src="%[2]s/other-frame" width="100" height="50"></iframe>
<script>
window.events = [];
for (const id of ['phone', 'wall']) {
  const el = document.getElementById(id);
  for (const ev of ['ready', 'registration', 'call.ringing', 'call.answered', 'call.held', 'call.ended', 'calls']) {
    el.addEventListener(ev, (e) => window.events.push({ el: id, type: ev, d: e.detail }));
  }
}
</script>
</body></html>`

// otherFrame is a page of a site not in embed_origins, framed by the
// portal: it keeps saying hello to the phone and asking it to dial.
const otherFrame = `<!DOCTYPE html><html><body><script>
window.got = [];
window.addEventListener('message', (e) => window.got.push({ origin: e.origin, data: e.data }));
setInterval(() => {
  const phone = window.top.frames[0];
  phone.postMessage({ switchboard: 1, type: 'hello' }, '%[1]s');
  phone.postMessage({ switchboard: 1, type: 'command', command: 'dial', number: '1002' }, '%[1]s');
}, 300);
</script></body></html>`

// otherPortal is a page of a site not in embed_origins that frames the
// wallboard itself.
const otherPortal = `<!DOCTYPE html><html><body><iframe id="wb" src="%s/embed/wallboard"></iframe></body></html>`

// TestBrowserEmbed: headless Chromium opens an intranet portal served
// from another loopback origin over HTTPS, which embeds the softphone
// and the wallboard with embed.js. The visitor signs in at a real
// OpenID provider in the popup the framed sign-in page opens; the frame
// picks the sign-in up (a __Host-, Secure, SameSite=None, Partitioned
// cookie on the wire), registers, and the portal hears "registration".
// A tel: link on the portal dials a baresip phone through kamailio: the
// portal gets call.answered (number 1002), the frame hears the phone's
// 1000 Hz and the phone the page's 440 Hz, the wallboard tile shows the
// call live; the portal holds, resumes and hangs up (call.held,
// call.answered, call.ended). The phone calls back: call.ringing with
// its number, the portal answers and the phone hangs up. A phone framed
// without allow="microphone" says what the portal's admin must change.
// A frame of a
// site not in embed_origins is never answered and its dial commands
// place no call; a page of that site cannot frame the wallboard at all.
// Signed out again, a password sign-in in the framed form works too.
func TestBrowserEmbed(t *testing.T) {
	browsertest.Require(t)
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	far := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: k.Addr(), ToneHz: 1000, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	if err := far.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	cert, spki, files := loopbackCert(t)

	// The portal and the other site first: their origins go into the
	// configuration. Their pages are filled in once Switchboard listens.
	var sbURL string
	portalMux, otherMux := http.NewServeMux(), http.NewServeMux()
	portal := serveTLS(t, "127.0.0.2:0", cert, portalMux)
	other := serveTLS(t, "127.0.0.3:0", cert, otherMux)
	portalMux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, portalPage, sbURL, other.URL)
	})
	otherMux.HandleFunc("GET /other-frame", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, otherFrame, sbURL)
	})
	otherMux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, otherPortal, sbURL)
	})

	provider := startProvider(t)
	provider.m.QueueUser(portalUser{sub: "p-9", name: "paula", groups: []string{"agents"}, accounts: []string{"office"}})
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte(provider.m.ClientSecret), 0o600); err != nil {
		t.Fatal(err)
	}

	hub := monitor.NewHub(monitor.HubConfig{})
	t.Cleanup(hub.Close)
	rtp := siptest.FreePorts(t, 20)
	bridge, err := sipbridge.New(sipbridge.Config{Listen: "127.0.0.1:0", RTPPortMin: rtp, RTPPortMax: rtp + 19, Accounts: []sipbridge.AccountConfig{
		{Name: "office", Registrar: k.Addr(), Username: "1001", Password: siptest.Password("1001"), Expires: 60},
	}}, hub, sipbridge.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{IncludeLoopback: true}, gateway.FromBridge(bridge))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	bridgeDone := make(chan error, 1)
	go func() { bridgeDone <- bridge.Run(runCtx) }()
	t.Cleanup(func() {
		_ = gw.Close()
		stop()
		if err := <-bridgeDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("bridge: %v", err)
		}
	})
	<-bridge.Ready()
	cfg := testConfig(t)
	cfg.TLSCert, cfg.TLSKey = files[0], files[1]
	cfg.EmbedOrigins = []string{portal.URL}
	cfg.Auth.OIDC = &OIDCConfig{Issuer: provider.m.Issuer(), ClientID: provider.m.ClientID, ClientSecretFile: secret,
		RoleMap: RoleMap{"agents": RoleUser}, AccountsClaim: "sip_accounts"}
	srv, err := New(cfg, Deps{Hub: hub, Phone: gw}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	sb := serveTLS(t, "127.0.0.1:0", cert, srv.Handler())
	sbURL = sb.URL

	wav := filepath.Join(t.TempDir(), "mic-440.wav")
	if err := siptest.WriteToneWAV(wav, 440, 48000, 1, 60); err != nil {
		t.Fatal(err)
	}
	s := browsertest.Start(ctx, t, browsertest.Options{Env: []string{"FAKE_AUDIO_WAV=" + wav, "SPKI=" + spki}, Ack: true},
		"embed.js", portal.URL+"/", other.URL+"/", sb.URL, "bob", testPassword, os.Getenv("SWITCHBOARD_EMBED_SHOTS"))
	for _, name := range strings.Split("signed-in,registered,wall-ready,answered-out,held,ended-out,ringing,answered-in,ended-in,no-microphone,ignored,refused,password", ",") {
		var v struct {
			Hz        int               `json:"hz"`
			SetCookie []string          `json:"setCookie"`
			Cookies   []json.RawMessage `json:"cookies"`
			Event     map[string]any    `json:"event"`
			Active    string            `json:"active"`
			Got       []any             `json:"got"`
			Calls     int               `json:"calls"`
			URL       string            `json:"url"`
			Console   []string          `json:"console"`
			Norm      []string          `json:"normalised"`
			Text      string            `json:"text"`
		}
		s.NextInto(ctx, t, name, &v)
		switch name {
		case "signed-in":
			c := strings.Join(v.SetCookie, "\n")
			for _, want := range []string{embedSessionCookie + "=", "Secure", "SameSite=None", "Partitioned", "HttpOnly", "Path=/"} {
				if !strings.Contains(c, want) {
					t.Errorf("session cookie on the wire %q lacks %s", c, want)
				}
			}
			if want := "+4930123456,1002,1002,alice@example.com,+4930123,+4930123"; strings.Join(v.Norm, ",") != want {
				t.Errorf("embed.js normalised %q, want %s", v.Norm, want)
			}
		case "answered-out":
			if v.Hz < 950 || v.Hz > 1050 {
				t.Errorf("the framed phone heard %d Hz, want the far phone's 1000", v.Hz)
			}
			if v.Event["number"] != "1002" {
				t.Errorf("call.answered %v, want number 1002", v.Event)
			}
			if v.Active != "1" {
				t.Errorf("the wallboard tile shows %q active calls, want 1", v.Active)
			}
			if err := far.WaitRecorded(ctx, time.Second); err != nil {
				t.Errorf("far phone recording: %v", err)
			}
			if hz, err := far.CheckHeard(440); err != nil {
				t.Errorf("far phone heard %.0f Hz: %v", hz, err)
			}
		case "ended-out":
			if _, err := far.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
				t.Errorf("far phone: %v", err)
			}
			if err := far.Dial(ctx, fmt.Sprintf("sip:1001@%s", k.Addr())); err != nil {
				t.Errorf("far phone dial: %v", err)
			}
		case "ringing":
			if !strings.Contains(fmt.Sprint(v.Event["number"]), "1002") {
				t.Errorf("call.ringing %v, want the caller's number 1002", v.Event)
			}
		case "answered-in":
			if v.Hz < 950 || v.Hz > 1050 {
				t.Errorf("incoming: the framed phone heard %d Hz, want 1000", v.Hz)
			}
			if err := far.Hangup(ctx); err != nil {
				t.Errorf("far phone hangup: %v", err)
			}
		case "no-microphone":
			if !strings.Contains(v.Text, `allow="microphone; autoplay"`) {
				t.Errorf("a phone framed without the microphone says %q, want what the portal's admin must change", v.Text)
			}
		case "ignored":
			if len(v.Got) != 0 {
				t.Errorf("the frame of another site got answers: %v", v.Got)
			}
			if v.Calls != 2 {
				t.Errorf("%d calls answered, want the portal's 2 (the other site's dials must place none)", v.Calls)
			}
		case "password":
			if !strings.Contains(string(bytesJoin(v.Cookies)), `"name":"`+embedSessionCookie+`"`) || !strings.Contains(string(bytesJoin(v.Cookies)), `"partitionKey":"https://127.0.0.2"`) {
				t.Errorf("password sign-in in the frame: cookies %s", bytesJoin(v.Cookies))
			}
		case "refused":
			if strings.Contains(v.URL, "/embed/wallboard") {
				t.Errorf("a site not in embed_origins framed the wallboard: %s", v.URL)
			}
			if !strings.Contains(strings.Join(v.Console, "\n"), "frame-ancestors") {
				t.Errorf("the browser did not say it refused the frame: %q", v.Console)
			}
		}
		s.Ack(t)
	}
	s.Finish(t)
}

func pemBlock(typ string, b []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
}

func bytesJoin(raws []json.RawMessage) []byte {
	var out []byte
	for _, r := range raws {
		out = append(out, r...)
	}
	return out
}
