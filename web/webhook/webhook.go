// Package webhook posts every call change to configured URLs: JSON bodies
// signed with HMAC-SHA256, a bounded queue per endpoint, retries with
// backoff. A dead or slow endpoint never slows the monitor: when its queue
// is full, events for it are dropped and counted.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// EventHeader carries the event type: call, source or user.
const EventHeader = "X-Switchboard-Event"

// Config is one endpoint in the `webhooks:` list.
type Config struct {
	URL string `yaml:"url"`
	// Secret is the HMAC key; SecretFile reads it from a file.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Events selects event types: call, source, user. Default [call].
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

type endpoint struct {
	cfg    Config
	secret []byte
	events map[monitor.EventType]bool
	queue  chan []byte // encoded bodies, each with its type in front

	delivered, failed, dropped atomic.Uint64

	mu      sync.Mutex
	ok      bool
	lastErr string
	lastTry time.Time
}

// Dispatcher sends events to every endpoint.
type Dispatcher struct {
	endpoints []*endpoint
	client    *http.Client
	log       *slog.Logger
	retryBase time.Duration
	spool     string

	// drain is closed by Shutdown: the workers deliver what is queued,
	// then stop.
	drainOnce sync.Once
	drain     chan struct{}
	mu        sync.Mutex
	running   bool
	cancel    context.CancelFunc // ends Run's deliveries: a forced Shutdown
	done      chan struct{}      // closed when Run has returned
}

// Option sets a rare knob.
type Option func(*Dispatcher)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(d *Dispatcher) { d.log = l } }

// WithRetryBase sets the first retry wait (default 1s), for tests.
func WithRetryBase(b time.Duration) Option { return func(d *Dispatcher) { d.retryBase = b } }

// New returns a dispatcher for cfgs.
func New(cfgs []Config, opts ...Option) (*Dispatcher, error) {
	d := &Dispatcher{client: &http.Client{}, log: slog.Default(), retryBase: time.Second, drain: make(chan struct{}), done: make(chan struct{})}
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
			c.Events = []string{string(monitor.EventCall)}
		}
		ev := map[monitor.EventType]bool{}
		for _, e := range c.Events {
			switch t := monitor.EventType(e); t {
			case monitor.EventCall, monitor.EventSource, monitor.EventUser:
				ev[t] = true
			default:
				return nil, fmt.Errorf("webhooks[%d]: unknown event type %q (want call, source or user)", i, e)
			}
		}
		d.endpoints = append(d.endpoints, &endpoint{cfg: c, secret: []byte(secret), events: ev, queue: make(chan []byte, c.QueueSize), ok: true})
	}
	if err := d.loadSpool(); err != nil {
		return nil, err
	}
	return d, nil
}

// message is the body: the same shape as an /events message.
type message struct {
	Type   monitor.EventType     `json:"type"`
	Seq    uint64                `json:"seq"`
	Call   *monitor.Call         `json:"call,omitempty"`
	Source *monitor.SourceStatus `json:"source,omitempty"`
	Event  *monitor.UserEvent    `json:"event,omitempty"`
}

// Observe queues ev for every endpoint that wants it; it never blocks.
// Use it with monitor.WithObserver.
func (d *Dispatcher) Observe(ev monitor.Event) {
	var body []byte
	for _, e := range d.endpoints {
		if !e.events[ev.Type] {
			continue
		}
		if body == nil {
			b, err := json.Marshal(message{Type: ev.Type, Seq: ev.Seq, Call: ev.Call, Source: ev.Source, Event: ev.User})
			if err != nil {
				d.log.Error("webhook encode", "err", err)
				return
			}
			body = append([]byte(string(ev.Type)+"\n"), b...)
		}
		select {
		case e.queue <- body:
		default:
			e.dropped.Add(1)
		}
	}
}

// Run delivers queued events until ctx ends or Shutdown has delivered
// what was queued. Events still queued when ctx ends (and deliveries cut
// short) are saved to the spool (WithSpool) or counted as failed.
func (d *Dispatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return errors.New("webhook: already running")
	}
	d.running, d.cancel = true, cancel
	d.mu.Unlock()
	defer close(d.done)
	cut := make([][]byte, len(d.endpoints))
	var wg sync.WaitGroup
	for i, e := range d.endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cut[i] = d.worker(ctx, e)
		}()
	}
	wg.Wait()
	d.keep(cut)
	return nil
}

// Shutdown makes Run deliver what is queued, retrying as usual, and
// return. When ctx ends first, the deliveries in flight are cut short and
// what is left is saved to the spool (WithSpool) to be sent after the
// next start, or counted as failed without one; Shutdown then returns
// ctx's error. Events observed meanwhile are queued as usual. Safe to
// call more than once; without Run it does nothing.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.drainOnce.Do(func() { close(d.drain) })
	d.mu.Lock()
	running, cancel := d.running, d.cancel
	d.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
	}
	cancel()
	<-d.done
	return fmt.Errorf("webhook shutdown: %w", ctx.Err())
}

// worker delivers e's events until ctx ends, or until the queue is empty
// once draining. It returns the event whose delivery ctx cut short.
func (d *Dispatcher) worker(ctx context.Context, e *endpoint) []byte {
	for {
		var item []byte
		select {
		case <-ctx.Done():
			return nil
		case <-d.drain:
			select {
			case item = <-e.queue:
			default:
				return nil
			}
		case item = <-e.queue:
		}
		typ, body, _ := bytes.Cut(item, []byte("\n"))
		if !d.deliver(ctx, e, string(typ), body) {
			return item
		}
	}
}

// errPermanent marks a refusal that retrying cannot fix (4xx).
var errPermanent = errors.New("refused")

// deliver posts one event, retrying; false when ctx ended first (the event
// is neither delivered nor given up on).
func (d *Dispatcher) deliver(ctx context.Context, e *endpoint, typ string, body []byte) bool {
	wait := d.retryBase
	for try := 0; ; try++ {
		err := d.post(ctx, e, typ, body)
		if err != nil && ctx.Err() != nil {
			return false
		}
		e.mu.Lock()
		e.lastTry = time.Now()
		e.ok = err == nil
		if err != nil {
			e.lastErr = err.Error()
		}
		e.mu.Unlock()
		if err == nil {
			e.delivered.Add(1)
			return true
		}
		if errors.Is(err, errPermanent) || try >= e.cfg.MaxRetries {
			e.failed.Add(1)
			d.log.Info("webhook delivery failed", "url", e.cfg.URL, "err", err, "tries", try+1)
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
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

func (d *Dispatcher) post(ctx context.Context, e *endpoint, typ string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhook/1")
	req.Header.Set(EventHeader, typ)
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
		e.mu.Lock()
		st := EndpointStatus{URL: e.cfg.URL, OK: e.ok, LastError: e.lastErr, LastTry: e.lastTry}
		e.mu.Unlock()
		st.Queued, st.Delivered, st.Failed, st.Dropped = len(e.queue), e.delivered.Load(), e.failed.Load(), e.dropped.Load()
		out = append(out, st)
	}
	return out
}

var (
	descDelivered = prometheus.NewDesc("switchboard_webhook_delivered_total", "Events a webhook endpoint accepted.", []string{"url"}, nil)
	descFailed    = prometheus.NewDesc("switchboard_webhook_failed_total", "Events given up on after retries or a refusal.", []string{"url"}, nil)
	descDropped   = prometheus.NewDesc("switchboard_webhook_dropped_total", "Events dropped because the endpoint's queue was full.", []string{"url"}, nil)
	descQueued    = prometheus.NewDesc("switchboard_webhook_queued", "Events waiting for an endpoint.", []string{"url"}, nil)
	descUp        = prometheus.NewDesc("switchboard_webhook_up", "1 when the endpoint's last delivery succeeded.", []string{"url"}, nil)
)

// Describe implements prometheus.Collector.
func (d *Dispatcher) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{descDelivered, descFailed, descDropped, descQueued, descUp} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (d *Dispatcher) Collect(ch chan<- prometheus.Metric) {
	for _, st := range d.Status() {
		up := 0.0
		if st.OK {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(st.Delivered), st.URL)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(st.Failed), st.URL)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped), st.URL)
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(st.Queued), st.URL)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, st.URL)
	}
}
