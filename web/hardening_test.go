package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/web/webhook"
)

// runServer runs a server on a loopback port with cfg and returns it once
// it listens; it is shut down at the end of the test, and Run must not
// fail.
func runServer(t *testing.T, cfg Config, deps Deps, opts ...Option) *Server {
	t.Helper()
	srv, stop, _ := startServer(t, cfg, deps, opts...)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return srv
}

// startServer runs a server on a loopback port with cfg (a hub of its own
// unless deps has one) and returns it once it listens: stop ends Run and
// returns its result, wait only waits for it; both may be called again.
// The test's cleanup stops it.
func startServer(t *testing.T, cfg Config, deps Deps, opts ...Option) (_ *Server, stop, wait func() error) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if deps.Hub == nil {
		hub := monitor.NewHub(monitor.HubConfig{})
		t.Cleanup(hub.Close)
		deps.Hub = hub
	}
	srv, err := New(cfg, deps, append([]Option{WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	wait = sync.OnceValue(func() error { return <-done })
	stop = func() error {
		cancel()
		return wait()
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case <-srv.Ready():
	case err := <-done:
		done <- err // for wait, in the cleanup
		t.Fatalf("Run: %v", err)
	}
	return srv, stop, wait
}

// rawConn is a TCP connection to addr on which a test writes requests
// byte by byte as it likes.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// A guard, not an assertion: a server that never answers fails the
	// test instead of hanging it.
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// roundTrip writes req and reads the response; err when the server
// closed the connection instead.
func (c *rawConn) roundTrip(req string) (*http.Response, string, error) {
	if _, err := io.WriteString(c, req); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestSlowBodyCut: a body that does not arrive within body_timeout ends
// the request with 408 and the connection, whatever the route; the
// headers alone have their own timeout.
func TestSlowBodyCut(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Limits.BodyTimeout = 200 * time.Millisecond
	cfg.Limits.HeaderTimeout = 300 * time.Millisecond
	srv := runServer(t, cfg, Deps{})
	addr := srv.Addr().String()
	for _, tt := range []struct{ name, req string }{
		{"sign-in form", "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=a"},
		{"API body", "POST /api/originate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testViewerToken + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			resp, body, err := c.roundTrip(tt.req)
			switch {
			case err != nil:
				// Cut before an answer: also fine, as long as it is cut.
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
					t.Fatalf("slow body: %v, want the connection closed", err)
				}
			case resp.StatusCode == http.StatusForbidden:
				// The viewer token may not originate: refused before the
				// body is read — the connection must still not stay.
			case resp.StatusCode != http.StatusRequestTimeout:
				t.Fatalf("slow body: %d, want 408: %s", resp.StatusCode, body)
			}
			if _, err := c.br.ReadByte(); err == nil {
				t.Fatal("connection still open after a cut body")
			} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection still open after a cut body (the test's guard ran out)")
			}
		})
	}
	t.Run("headers", func(t *testing.T) {
		c := dialRaw(t, addr)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(c.br); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("unfinished headers kept the connection open")
			}
		}
	})
	metrics := httpGet(t, "http://"+addr+"/metrics", "Authorization", "Bearer "+testViewerToken)
	if !strings.Contains(metrics, "switchboard_web_body_timeouts_total 1") && !strings.Contains(metrics, "switchboard_web_body_timeouts_total 2") {
		t.Errorf("body timeouts not counted:\n%s", grepLines(metrics, "body_timeouts"))
	}
}

func httpGet(t *testing.T, u string, hdr ...string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	_, body := do(t, &http.Client{Timeout: 10 * time.Second}, req)
	return body
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestLongHandlerNotCutByReadTimeout: a request whose body came in time
// gets its answer however long the handler takes after it: neither the
// body deadline nor ReadTimeout cancels its context.
func TestLongHandlerNotCutByReadTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Limits.BodyTimeout = 50 * time.Millisecond
	cfg.Limits.HeaderTimeout = 50 * time.Millisecond
	hub := monitor.NewHub(monitor.HubConfig{})
	t.Cleanup(hub.Close)
	hub.SourceStatus(monitor.SourceStatus{Name: "pbx", Type: "ami", State: monitor.LinkConnected, Actions: []monitor.Action{monitor.ActionOriginate}})
	ctl := &blockingController{entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := runServer(t, cfg, Deps{Hub: hub, Controllers: map[monitor.SourceName]monitor.Controller{"pbx": ctl}})
	e := &env{srv: srv, hub: hub, ts: &httptest.Server{URL: "http://" + srv.Addr().String()}}
	c := e.client(t)
	tok := e.login(t, c, "anna")
	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/api/originate", strings.NewReader(`{"source":"pbx","from":"1","to":"2"}`))
		req.Header.Set(csrfHeader, tok)
		resp, err := c.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		resp.Body.Close()
		got <- resp.Status
	}()
	<-ctl.entered
	// Let the read timeouts pass while the handler waits: a deadline left
	// on the connection would have cancelled the request's context by
	// now. This waits for the server's deadline, it synchronises nothing.
	wait := time.NewTimer(4 * (cfg.Limits.BodyTimeout + cfg.Limits.HeaderTimeout))
	<-wait.C
	close(ctl.release)
	if s := <-got; s != "200 OK" {
		t.Fatalf("slow request: %s, want 200 OK", s)
	}
}

// blockingController holds Originate until released; it fails when its
// context ends first.
type blockingController struct {
	fakeController
	entered chan struct{}
	release chan struct{}
}

func (c *blockingController) Originate(ctx context.Context, from, to string) error {
	c.entered <- struct{}{}
	select {
	case <-c.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestConnectionCaps: connections over the per-address cap or the total
// are closed at once and counted; a trusted proxy is held to the total
// only.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		limits  Limits
		proxies []string
		open    int // connections that must be served
		metric  string
	}{
		{"per address", Limits{MaxConnectionsPerAddress: 2}, nil, 2, `switchboard_web_connections_refused_total{limit="address"} 1`},
		{"total", Limits{MaxConnections: 3}, nil, 3, `switchboard_web_connections_refused_total{limit="total"} 1`},
		{"trusted proxy only by the total", Limits{MaxConnectionsPerAddress: 1, MaxConnections: 3}, []string{"127.0.0.1"}, 3, `switchboard_web_connections_refused_total{limit="total"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.Limits, cfg.TrustedProxies = tt.limits, tt.proxies
			srv := runServer(t, cfg, Deps{})
			addr := srv.Addr().String()
			const get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
			var open []*rawConn
			for i := range tt.open {
				c := dialRaw(t, addr)
				if resp, _, err := c.roundTrip(get); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("connection %d: %v %v", i, resp, err)
				}
				open = append(open, c)
			}
			over := dialRaw(t, addr)
			if resp, _, err := over.roundTrip(get); err == nil {
				t.Fatalf("connection over the cap served: %d", resp.StatusCode)
			}
			metrics := "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testViewerToken + "\r\n\r\n"
			_, body, err := open[0].roundTrip(metrics)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(body, tt.metric) || !strings.Contains(body, fmt.Sprint("switchboard_web_connections ", tt.open)) {
				t.Errorf("metrics:\n%s\nwant %s", grepLines(body, "connections"), tt.metric)
			}
			// A place given back is taken again.
			_ = open[len(open)-1].Close()
			for {
				c := dialRaw(t, addr)
				if resp, _, err := c.roundTrip(get); err == nil && resp.StatusCode == http.StatusOK {
					break
				}
			}
		})
	}
}

// TestMethodsAndErrors: a wrong method answers 405 with Allow; on API
// routes every error is JSON; pages get an error page.
func TestMethodsAndErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	bearer := "Bearer " + testViewerToken
	tests := []struct {
		method, path, auth string
		status             int
		allow              string
		json               bool
	}{
		{"POST", "/healthz", "", 405, "GET, HEAD", true},
		{"DELETE", "/api/calls", bearer, 405, "GET, HEAD", true},
		{"GET", "/api/calls/pbx:1/hangup", bearer, 405, "POST", true},
		{"PUT", "/api/originate", "", 405, "POST", true},
		{"GET", "/logout", "", 405, "POST", false},
		{"PUT", "/login", "", 405, "GET, HEAD, POST", false},
		{"GET", "/api/nothing", bearer, 404, "", true},
		{"GET", "/nothing", "", 404, "", false},
		{"GET", "/api/calls", "", 401, "", true},
		{"GET", "/metrics", "", 401, "", true},
		{"GET", "/phone", "", 401, "", true},
		{"GET", "/api/history?limit=x", bearer, 400, "", true},
	}
	c := e.client(t)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.ts.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, body := do(t, c, req)
			if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("%d Allow %q, want %d Allow %q: %s", resp.StatusCode, resp.Header.Get("Allow"), tt.status, tt.allow, body)
			}
			isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
			if isJSON != tt.json {
				t.Fatalf("Content-Type %q, want JSON=%v", resp.Header.Get("Content-Type"), tt.json)
			}
			var out map[string]string
			if tt.json && (json.Unmarshal([]byte(body), &out) != nil || out["error"] == "") {
				t.Fatalf("body %q: want {\"error\": ...}", body)
			}
		})
	}
}

// logBuffer collects a server's log lines at Debug.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestWallLinkHeadAndLogs: HEAD (a link-preview bot) leaves the one-time
// link unused; the link is built on public_url; the code is in no log
// line, used or refused; long client values are clipped in the logs.
func TestWallLinkHeadAndLogs(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.PublicURL = "https://switchboard.example.test/"
	logs := &logBuffer{}
	e := newEnv(t, cfg, monitor.HubConfig{}, WithLogger(logs.logger()))
	admin := e.client(t)
	tok := e.login(t, admin, "anna")
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/api/wall-links", strings.NewReader(`{"name":"Hall TV"}`))
	req.Header.Set(csrfHeader, tok)
	req.Host = "evil.example" // a proxy passing a Host of its own
	for _, ck := range admin.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	resp, body := do(t, &http.Client{Timeout: 10 * time.Second}, req)
	var link wallLinkResponse
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &link) != nil {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	const base = "https://switchboard.example.test/wall/"
	if !strings.HasPrefix(link.URL, base) {
		t.Fatalf("link %q, want it on public_url %s", link.URL, base)
	}
	code := strings.TrimPrefix(link.URL, base)
	path := e.ts.URL + "/wall/" + code

	wall := e.client(t)
	req, _ = http.NewRequest(http.MethodHead, path, nil)
	if resp, _ := do(t, wall, req); resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
		t.Fatalf("HEAD: %d %v, want 200 without a session", resp.StatusCode, resp.Cookies())
	}
	if resp, _ := get(t, wall, path); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET after HEAD: %d, want 303 (the link still unused)", resp.StatusCode)
	}
	if resp, _ := get(t, e.client(t), path); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second GET: %d, want 404", resp.StatusCode)
	}
	get(t, e.client(t), e.ts.URL+"/wall/"+code+"x")
	long := strings.Repeat("A", 5000)
	e.loginAttempt(t, e.client(t), long, "x")
	out := logs.String()
	if strings.Contains(out, code) {
		t.Errorf("a log line carries the wall-screen code:\n%s", grepLines(out, code[:8]))
	}
	if strings.Contains(out, long[:200]) {
		t.Error("a log line carries a client's 5 kB user name")
	}
	if !strings.Contains(out, "(5000 bytes)") {
		t.Errorf("the long name is not logged clipped:\n%s", grepLines(out, "sign-in"))
	}
}

// TestLoginCookieClearedOnItsPath: the sign-in form's cookie is set for
// /login and cleared for /login, or the browser would keep it.
func TestLoginCookieClearedOnItsPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	resp, _ := e.loginAttempt(t, c, "anna", testPassword)
	var cleared *http.Cookie
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, loginCookie+"_") {
			cleared = ck
		}
	}
	if cleared == nil || cleared.Path != loginCookiePath || cleared.MaxAge >= 0 {
		t.Fatalf("sign-in cookie on success: %+v, want cleared with Path=%s", cleared, loginCookiePath)
	}
}

type fakeWebhooks []webhook.EndpointStatus

func (f fakeWebhooks) Status() []webhook.EndpointStatus { return f }

// TestHealthzHidesAddresses: /healthz answers anyone, but names no
// address inside the site except to a signed-in admin.
func TestHealthzHidesAddresses(t *testing.T) {
	t.Parallel()
	hub := monitor.NewHub(monitor.HubConfig{})
	t.Cleanup(hub.Close)
	hub.SourceStatus(monitor.SourceStatus{Name: "pbx", Type: "ami", State: monitor.LinkDown, Error: "dial tcp 10.0.0.5:5038: connect: connection refused"})
	hub.SourceStatus(monitor.SourceStatus{Name: "desk", Type: "sip", State: monitor.LinkRegistered, Subscriptions: []monitor.SubscriptionStatus{
		{Target: "sip:201@10.0.0.7", State: monitor.SubscriptionRetrying, Error: "no answer to SUBSCRIBE from 10.0.0.7:5060"}}})
	hooks := fakeWebhooks{{URL: "http://crm.internal:8000/hook?key=s3cret", LastError: `Post "http://crm.internal:8000/hook": dial tcp 10.0.0.9:8000: i/o timeout`}}
	srv, err := New(testConfig(t), Deps{Hub: hub, Webhooks: hooks}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, hub: hub}
	e.ts = httptestServer(t, srv)
	secrets := []string{"10.0.0.5", "10.0.0.9", "10.0.0.7", "crm.internal", "s3cret"}
	tests := []struct {
		name  string
		as    string
		shown []string
		gone  []string
	}{
		{"anyone", "", []string{"dial tcp [address]: connect: connection refused", `"degraded"`, `"state":"retrying"`, "no answer to SUBSCRIBE from [address]"}, secrets},
		{"a viewer", "vera", []string{"[address]"}, secrets},
		{"an admin", "anna", []string{"10.0.0.5:5038", "http://crm.internal:8000/hook", "10.0.0.9", `"target":"sip:201@10.0.0.7"`}, []string{"s3cret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(t)
			if tt.as != "" {
				e.login(t, c, tt.as)
			}
			resp, body := get(t, c, e.ts.URL+"/healthz")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for _, s := range tt.shown {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q: %s", s, body)
				}
			}
			for _, s := range tt.gone {
				if strings.Contains(body, s) {
					t.Errorf("body names %q: %s", s, body)
				}
			}
		})
	}
}

// TestRunTLSURL: served over TLS, the server says https://, in URL and
// in its log line.
func TestRunTLSURL(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.TLSCert, cfg.TLSKey = selfSigned(t)
	logs := &logBuffer{}
	srv := runServer(t, cfg, Deps{}, WithLogger(logs.logger()))
	if u := srv.URL(); !strings.HasPrefix(u, "https://127.0.0.1:") {
		t.Fatalf("URL %q, want https://", u)
	}
	if !strings.Contains(logs.String(), "url=https://127.0.0.1:") {
		t.Errorf("startup line: %s", grepLines(logs.String(), "listening"))
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cfg.TLSCert)
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(srv.URL() + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz over TLS: %d", resp.StatusCode)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func httptestServer(t *testing.T, srv *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}
