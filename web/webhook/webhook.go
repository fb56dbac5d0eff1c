// Package webhook posts every call change to configured URLs: the event
// envelope's JSON (monitor.Event) as the body, signed with HMAC-SHA256, a
// bounded queue per endpoint (a monitor.Outbox), retries with backoff. A
// dead or slow endpoint never slows the monitor: when its queue is full,
// events for it are dropped and counted.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/monitor"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>".
const SignatureHeader = "X-Switchboard-Signature"

// EventHeader carries the event's kind (its "type"): call, source, user.
const EventHeader = "X-Switchboard-Event"

// EventIDHeader carries the event's id (EventID: a digest of the body,
// which holds the envelope's seq and time, so it is the same for a repeat
// and differs between events; in a cluster the same on every node): a
// post can arrive twice (a retry after a timeout, a node that died before
// NATS heard it was done), and a receiver drops a repeat by it.
const EventIDHeader = "X-Switchboard-Event-Id"

// Config is one endpoint in the `webhooks:` list.
type Config struct {
	URL string `yaml:"url"`
	// Secret is the HMAC key; SecretFile reads it from a file.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Events selects event kinds (monitor.Kinds: call, source, user, …).
	// Default [call].
	Events []string `yaml:"events"`
	// Timeout bounds one POST. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how often a failed POST is retried. Default 5.
	MaxRetries int `yaml:"max_retries"`
	// QueueSize is how many events may wait. Default 1000.
	QueueSize int `yaml:"queue_size"`
}

// EndpointStatus is what /healthz and the wallboard show of an endpoint.
type EndpointStatus struct {
	URL       string    `json:"url"`
	OK        bool      `json:"ok"`
	LastError string    `json:"last_error,omitempty"`
	LastTry   time.Time `json:"last_try,omitzero"`
	Queued    int       `json:"queued"`
	Delivered uint64    `json:"delivered"`
	Failed    uint64    `json:"failed"`
	Dropped   uint64    `json:"dropped"`
}

// endpoint is one configured URL with its outbox. The outbox's totals are
// the status's Queued, Delivered (handled), Failed and Dropped (refused as
// the queue was full, or still queued at shutdown).
type endpoint struct {
	cfg    Config
	secret []byte
	kinds  map[monitor.Kind]bool
	out    *monitor.Outbox
	// id names the endpoint between nodes (ID); shared counts what a
	// cluster's queue (UseQueue) took and this node posted.
	id     string
	shared sharedStats

	mu      sync.Mutex
	ok      bool
	lastErr string
	lastTry time.Time
}

// Dispatcher sends events to every endpoint. New starts one worker per
// endpoint; Close stops them.
type Dispatcher struct {
	endpoints []*endpoint
	client    *http.Client
	log       *slog.Logger
	retryBase time.Duration
	// spool is where events left undelivered by a Close that ran out of
	// time are saved for the next start (WithSpool); empty: none.
	spool string

	// mu guards left.
	mu   sync.Mutex
	left []spooled

	// queue carries the posts in a cluster (UseQueue); nil alone.
	queue atomic.Pointer[queueBox]
}

// Option sets a rare knob.
type Option func(*Dispatcher)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(d *Dispatcher) { d.log = l } }

// WithRetryBase sets the first retry wait (default 1s), for tests.
func WithRetryBase(b time.Duration) Option { return func(d *Dispatcher) { d.retryBase = b } }

// New checks cfgs and returns a dispatcher whose endpoint workers run
// until Close.
func New(cfgs []Config, opts ...Option) (*Dispatcher, error) {
	d := &Dispatcher{client: &http.Client{}, log: slog.Default(), retryBase: time.Second}
	for _, o := range opts {
		o(d)
	}
	for i, c := range cfgs {
		if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
			return nil, fmt.Errorf("webhooks[%d]: url must be http(s)://…, got %q", i, c.URL)
		}
		secret := c.Secret
		if c.SecretFile != "" {
			b, err := os.ReadFile(c.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("webhooks[%d]: secret_file: %w", i, err)
			}
			secret = strings.TrimSpace(string(b))
		}
		if secret == "" {
			return nil, fmt.Errorf("webhooks[%d]: secret or secret_file is required (receivers verify the signature)", i)
		}
		if c.Timeout <= 0 {
			c.Timeout = 5 * time.Second
		}
		if c.MaxRetries <= 0 {
			c.MaxRetries = 5
		}
		if c.QueueSize <= 0 {
			c.QueueSize = 1000
		}
		if len(c.Events) == 0 {
			c.Events = []string{string(monitor.KindCall)}
		}
		kinds := map[monitor.Kind]bool{}
		for _, k := range c.Events {
			if _, ok := monitor.LookupKind(monitor.Kind(k)); !ok {
				return nil, fmt.Errorf("webhooks[%d]: unknown event type %q (want %s)", i, k, kindNames())
			}
			kinds[monitor.Kind(k)] = true
		}
		d.endpoints = append(d.endpoints, &endpoint{cfg: c, secret: []byte(secret), kinds: kinds, ok: true, id: ID(c.URL)})
	}
	// Every endpoint is checked before any worker starts, so an error
	// leaves nothing running.
	for _, e := range d.endpoints {
		e.out = monitor.NewOutbox(monitor.OutboxConfig{Name: "webhook " + e.cfg.URL, Size: e.cfg.QueueSize},
			func(ctx context.Context, ev monitor.Event) error {
				body, err := ev.JSON()
				if err != nil {
					return err
				}
				return d.deliver(ctx, e, string(ev.Kind()), EventID(body), body, nil)
			},
			monitor.WithUnhandled(func(ev monitor.Event, err error) { d.undelivered(e, ev, err) }))
	}
	if err := d.loadSpool(); err != nil {
		_ = d.Close(context.Background())
		return nil, err
	}
	return d, nil
}

// kindNames lists the kinds an endpoint may select.
func kindNames() string {
	var names []string
	for _, k := range monitor.Kinds() {
		names = append(names, string(k.Kind))
	}
	return strings.Join(names, ", ")
}

// Observe queues ev for every endpoint that wants its kind; it never
// blocks and does no I/O. Use it with monitor.WithObserver. In a cluster
// (UseQueue) it hands ev to the cluster's queue instead.
func (d *Dispatcher) Observe(ev monitor.Event) {
	if q := d.queue.Load(); q != nil {
		d.offerShared(q.q, ev)
		return
	}
	for _, e := range d.endpoints {
		if e.kinds[ev.Kind()] {
			e.out.Offer(ev)
		}
	}
}

// Flush waits until every endpoint has tried every event queued before
// the call, or ctx ends.
func (d *Dispatcher) Flush(ctx context.Context) error {
	for _, e := range d.endpoints {
		if err := e.out.Flush(ctx); err != nil {
			return fmt.Errorf("webhook flush: %w", err)
		}
	}
	return nil
}

// Close stops taking events and delivers what is queued, every endpoint at
// once, until ctx ends; then the deliveries in flight are cut short and
// what is left is saved to the spool (WithSpool), to be sent after the
// next start, or dropped and counted without one. It waits for the
// workers and is idempotent.
func (d *Dispatcher) Close(ctx context.Context) error {
	defer d.keep()
	errs := make([]error, len(d.endpoints))
	var wg sync.WaitGroup
	for i, e := range d.endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.out.Close(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("webhook close: %w", err)
	}
	return nil
}

// undelivered notes an event an endpoint will not get; the outbox counts
// it. A full queue is counted only: a dead endpoint must not flood the log.
func (d *Dispatcher) undelivered(e *endpoint, ev monitor.Event, err error) {
	if errors.Is(err, monitor.ErrOutboxFull) {
		return
	}
	if d.spool != "" && errors.Is(err, monitor.ErrOutboxClosed) {
		// Left by a Close that ran out of time: kept for the next start.
		if body, jerr := ev.JSON(); jerr == nil {
			d.mu.Lock()
			d.left = append(d.left, spooled{URL: e.cfg.URL, Type: string(ev.Kind()), Body: body})
			d.mu.Unlock()
			return
		}
	}
	d.log.Info("webhook delivery failed", "url", e.cfg.URL, "type", ev.Kind(), "seq", ev.Seq, "err", err)
}

// errPermanent marks a refusal that retrying cannot fix (4xx).
var errPermanent = errors.New("refused")

// deliver posts body, an event of kind typ whose id is id, to e,
// retrying with backoff: in e's outbox worker, or for a cluster's queue
// (Deliver). tried, if set, is called after every try.
func (d *Dispatcher) deliver(ctx context.Context, e *endpoint, typ, id string, body []byte, tried func()) error {
	wait := d.retryBase
	for try := 0; ; try++ {
		err := d.post(ctx, e, typ, id, body)
		if tried != nil {
			tried()
		}
		e.mu.Lock()
		e.lastTry = time.Now()
		e.ok = err == nil
		if err != nil {
			e.lastErr = err.Error()
		}
		e.mu.Unlock()
		if err == nil {
			return nil
		}
		if errors.Is(err, errPermanent) || try >= e.cfg.MaxRetries || ctx.Err() != nil {
			return fmt.Errorf("after %d tries: %w", try+1, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("after %d tries: %w", try+1, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (d *Dispatcher) post(ctx context.Context, e *endpoint, typ, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhook/1")
	req.Header.Set(EventHeader, typ)
	if id != "" {
		req.Header.Set(EventIDHeader, id)
	}
	req.Header.Set(SignatureHeader, Sign(e.secret, body))
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429:
		return fmt.Errorf("%w: %s", errPermanent, resp.Status)
	default:
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
}

// Status returns every endpoint's state.
func (d *Dispatcher) Status() []EndpointStatus {
	out := make([]EndpointStatus, 0, len(d.endpoints))
	for _, e := range d.endpoints {
		st, _ := d.statusOf(e)
		out = append(out, st)
	}
	return out
}

// status is e's state and how far behind its worker is.
func (e *endpoint) status() (EndpointStatus, time.Duration) {
	e.mu.Lock()
	st := EndpointStatus{URL: e.cfg.URL, OK: e.ok, LastError: e.lastErr, LastTry: e.lastTry}
	e.mu.Unlock()
	q := e.out.Stats()
	st.Queued, st.Delivered, st.Failed, st.Dropped = q.Queued, q.Handled, q.Failed, q.Overflow+q.Abandoned
	behind := q.Behind
	// What this node posted for a cluster's queue counts alike.
	sh, shBehind := e.shared.stats()
	st.Delivered += sh.delivered
	st.Failed += sh.failed
	st.Dropped += sh.dropped
	return st, max(behind, shBehind)
}

var (
	descDelivered = prometheus.NewDesc("switchboard_webhook_delivered_total", "Events a webhook endpoint accepted.", []string{"url"}, nil)
	descFailed    = prometheus.NewDesc("switchboard_webhook_failed_total", "Events given up on after retries or a refusal.", []string{"url"}, nil)
	descDropped   = prometheus.NewDesc("switchboard_webhook_dropped_total", "Events dropped because the endpoint's queue was full.", []string{"url"}, nil)
	descQueued    = prometheus.NewDesc("switchboard_webhook_queued", "Events waiting for an endpoint.", []string{"url"}, nil)
	descUp        = prometheus.NewDesc("switchboard_webhook_up", "1 when the endpoint's last delivery succeeded.", []string{"url"}, nil)
	descBehind    = prometheus.NewDesc("switchboard_webhook_behind_seconds", "Age of the event being delivered to the endpoint now; 0 when its queue is idle.", []string{"url"}, nil)
)

// Describe implements prometheus.Collector.
func (d *Dispatcher) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{descDelivered, descFailed, descDropped, descQueued, descUp, descBehind} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (d *Dispatcher) Collect(ch chan<- prometheus.Metric) {
	for _, e := range d.endpoints {
		st, behind := d.statusOf(e)
		up := 0.0
		if st.OK {
			up = 1
		}
		send(ch, descDelivered, prometheus.CounterValue, float64(st.Delivered), st.URL)
		send(ch, descFailed, prometheus.CounterValue, float64(st.Failed), st.URL)
		send(ch, descDropped, prometheus.CounterValue, float64(st.Dropped), st.URL)
		send(ch, descQueued, prometheus.GaugeValue, float64(st.Queued), st.URL)
		send(ch, descUp, prometheus.GaugeValue, up, st.URL)
		send(ch, descBehind, prometheus.GaugeValue, behind.Seconds(), st.URL)
	}
}

// send emits one sample; the label counts are fixed above, so an error
// (a programming mistake) drops the sample instead of panicking.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}
