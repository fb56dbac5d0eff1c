package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/web/webhook"
)

// Webhooks is what the server shows of the webhook endpoints.
type Webhooks interface {
	Status() []webhook.EndpointStatus
}

// healthSource is a source in /healthz; no address, since the endpoint
// needs no sign-in.
type healthSource struct {
	Name  monitor.SourceName `json:"name"`
	Type  string             `json:"type"`
	State monitor.LinkState  `json:"state"`
	Error string             `json:"error,omitempty"`
	Since time.Time          `json:"since"`
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
}

// historyHealth is a History that can say whether it saves (the history
// store: history.Store.Health).
type historyHealth interface {
	Health() history.Health
}

// healthHistory is the history in /healthz: the problem in plain words,
// never the database's own error, which names files (it is logged).
type healthHistory struct {
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
	Spooled int    `json:"spooled"`
	Lost    uint64 `json:"lost"`
}

// healthWebhook is a webhook endpoint in /healthz, its URL without query
// or credentials, since the endpoint needs no sign-in.
type healthWebhook struct {
	URL       string `json:"url"`
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

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	resp := healthResponse{Status: "ok", Sources: []healthSource{}}
	for _, st := range s.deps.Hub.Snapshot().Sources() {
		resp.Sources = append(resp.Sources, healthSource{Name: st.Name, Type: st.Type, State: st.State, Error: st.Error, Since: st.Since})
		if !st.State.Up() {
			resp.Status = "degraded"
		}
	}
	if s.deps.Webhooks != nil {
		for _, st := range s.deps.Webhooks.Status() {
			resp.Webhooks = append(resp.Webhooks, healthWebhook{URL: redactURL(st.URL), OK: st.OK, LastError: st.LastError, Queued: st.Queued, Failed: st.Failed, Dropped: st.Dropped})
			if !st.OK {
				resp.Status = "degraded"
			}
		}
	}
	if hh, ok := s.deps.History.(historyHealth); ok {
		h := hh.Health()
		resp.History = &healthHistory{OK: h.OK, Problem: h.Problem, Spooled: h.Spooled, Lost: h.Lost}
		if !h.OK {
			resp.Status = "degraded"
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
