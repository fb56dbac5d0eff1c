package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/web/webhook"
)

// Webhooks is what the server shows of the webhook endpoints.
type Webhooks interface {
	Status() []webhook.EndpointStatus
}

// SourceOwners says which node of a cluster connects each source (the
// holder of its lease: cluster.Node).
type SourceOwners interface {
	Name() string
	Connected() bool
	// Lag is how many of the cluster's changes this node has not applied
	// yet.
	Lag() uint64
	Owners(ctx context.Context) (map[monitor.SourceName]string, error)
}

// healthCluster is this node in /healthz: its name, whether NATS answers,
// and how many of the stream's changes it has not applied yet.
type healthCluster struct {
	Node      string `json:"node"`
	Connected bool   `json:"connected"`
	Lag       uint64 `json:"lag"`
}

// healthSource is a source in /healthz; no address, since the endpoint
// needs no sign-in.
type healthSource struct {
	Name  monitor.SourceName `json:"name"`
	Type  string             `json:"type"`
	State monitor.LinkState  `json:"state"`
	Error string             `json:"error,omitempty"`
	Since time.Time          `json:"since"`
	// Subscriptions are a softphone account's busy lamps (SIP SUBSCRIBE
	// to the dialog event package): target, state and why it failed.
	Subscriptions []monitor.SubscriptionStatus `json:"subscriptions,omitempty"`
	// Node is the node of a cluster that connects the source; empty alone,
	// or while no node holds its lease.
	Node string `json:"node,omitempty"`
}

// healthResponse is /healthz: "ok" when every source delivers events,
// every webhook endpoint takes them and the history saves them, else
// "degraded". The status code is 200 either way: the server itself
// works, and a load balancer must not take it out because a PBX is down.
type healthResponse struct {
	Status   string          `json:"status"`
	Sources  []healthSource  `json:"sources"`
	Webhooks []healthWebhook `json:"webhooks,omitempty"`
	History  *healthHistory  `json:"history,omitempty"`
	Cluster  *healthCluster  `json:"cluster,omitempty"`
}

// historyHealth is a History that can say whether it saves (the history
// store: history.Store.Health).
type historyHealth interface {
	Health() history.Health
}

// healthHistory is the history in /healthz: the problem in plain words,
// never the database's own error, which names files (it is logged).
type healthHistory struct {
	OK bool `json:"ok"`
	// Database is sqlite or postgres; Reachable is false while it cannot
	// be written (or, a PostgreSQL server, does not answer).
	Database  string `json:"database,omitempty"`
	Reachable bool   `json:"reachable"`
	Problem   string `json:"problem,omitempty"`
	Spooled   int    `json:"spooled"`
	Lost      uint64 `json:"lost"`
}

// healthWebhook is a webhook endpoint in /healthz. Its URL, without
// query or credentials, is shown to signed-in admins only: the endpoint
// needs no sign-in, and an address inside the site is nobody else's
// business.
type healthWebhook struct {
	URL       string `json:"url,omitempty"`
	OK        bool   `json:"ok"`
	LastError string `json:"last_error,omitempty"`
	Queued    int    `json:"queued"`
	Failed    uint64 `json:"failed"`
	Dropped   uint64 `json:"dropped"`
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// healthz answers anyone. Error texts often name the addresses inside
// the site (a PBX's, a webhook receiver's); they are shown as they are to
// signed-in admins only, and with every address taken out to everyone
// else.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticate(r)
	admin := err == nil && p.user.Role.Allows(RoleAdmin)
	text := scrubAddresses
	if admin {
		text = func(s string) string { return s }
	}
	resp := healthResponse{Status: "ok", Sources: []healthSource{}}
	var owners map[monitor.SourceName]string
	if s.deps.Owners != nil {
		resp.Cluster = &healthCluster{Node: s.deps.Owners.Name(), Connected: s.deps.Owners.Connected(), Lag: s.deps.Owners.Lag()}
		if !resp.Cluster.Connected {
			resp.Status = "degraded"
		}
		// Without NATS the owners are unknown: the sources show none.
		owners, _ = s.deps.Owners.Owners(r.Context())
	}
	for _, st := range s.deps.Hub.Snapshot().Sources() {
		hs := healthSource{Name: st.Name, Type: st.Type, State: st.State, Error: text(st.Error), Since: st.Since, Node: owners[st.Name]}
		for _, sub := range st.Subscriptions {
			sub.Error = text(sub.Error)
			if !admin {
				// The target names a host inside the site, as errors do.
				sub.Target = text(sub.Target)
			}
			hs.Subscriptions = append(hs.Subscriptions, sub)
			if sub.State == monitor.SubscriptionFailed {
				// A lamp the notifier refuses stays dark until someone
				// changes the configuration.
				resp.Status = "degraded"
			}
		}
		resp.Sources = append(resp.Sources, hs)
		if !st.State.Up() {
			resp.Status = "degraded"
		}
	}
	if s.deps.Webhooks != nil {
		for _, st := range s.deps.Webhooks.Status() {
			hw := healthWebhook{OK: st.OK, LastError: text(st.LastError), Queued: st.Queued, Failed: st.Failed, Dropped: st.Dropped}
			if admin {
				hw.URL = redactURL(st.URL)
			}
			resp.Webhooks = append(resp.Webhooks, hw)
			if !st.OK {
				resp.Status = "degraded"
			}
		}
	}
	if hh, ok := s.deps.History.(historyHealth); ok {
		h := hh.Health()
		resp.History = &healthHistory{OK: h.OK, Database: string(h.Database), Reachable: h.Reachable, Problem: h.Problem, Spooled: h.Spooled, Lost: h.Lost}
		if !h.OK {
			resp.Status = "degraded"
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// addressLike matches what names a place on a network in an error text:
// URLs, bracketed IPv6 addresses, IPv4 addresses, bare IPv6 addresses,
// host:port, and dotted host names (whose last label starts with a
// letter, so that "1.5s" or "v1.2" stay).
var addressLike = regexp.MustCompile(`(?i)` +
	`[a-z][a-z0-9+.-]*://[^\s"']+` +
	`|\[[0-9a-f.]*:[0-9a-z:.%_-]*\](:\d+)?` +
	`|\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b` +
	`|\b[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}\b` +
	`|\b[a-z0-9_-]+(\.[a-z0-9_-]+)*:\d{1,5}\b` +
	`|\b([a-z0-9_-]+\.)+[a-z][a-z0-9-]*\b`)

// scrubAddresses returns msg with every address in it replaced by
// "[address]": "dial tcp 10.0.0.5:5038: connect: connection refused"
// becomes "dial tcp [address]: connect: connection refused".
func scrubAddresses(msg string) string {
	return addressLike.ReplaceAllString(msg, "[address]")
}
