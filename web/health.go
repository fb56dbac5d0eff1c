package web

import (
	"net/http"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

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
// else "degraded". The status code is 200 either way: the server itself
// works, and a load balancer must not take it out because a PBX is down.
type healthResponse struct {
	Status  string         `json:"status"`
	Sources []healthSource `json:"sources"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	resp := healthResponse{Status: "ok", Sources: []healthSource{}}
	for _, st := range s.deps.Hub.Snapshot().Sources {
		resp.Sources = append(resp.Sources, healthSource{Name: st.Name, Type: st.Type, State: st.State, Error: st.Error, Since: st.Since})
		if !st.State.Up() {
			resp.Status = "degraded"
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
