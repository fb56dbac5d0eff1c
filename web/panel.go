package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard/switchboard/monitor"
)

// PanelBoot is handed to panel.js as JSON: what the viewer may do, the
// lamp groups and the thresholds; the lamps and queues come from /events.
type PanelBoot struct {
	Now time.Time `json:"now"`
	// Act says the viewer may act (operator or admin): put calls
	// through, dial, pause and log queue members in and out.
	Act bool `json:"act"`
	// Own is the viewer's own phone, which click-to-dial rings first;
	// empty: no dialling.
	Own string `json:"own"`
	// Groups are the configured lamp groups, in order.
	Groups []PanelGroup `json:"groups"`
	// Thresholds colour the queue figures.
	Thresholds PanelThresholds `json:"thresholds"`
}

// PanelThresholds are PanelConfig's thresholds as the page reads them:
// percentages, and waits in seconds.
type PanelThresholds struct {
	SLWarn        float64 `json:"sl_warn"`
	SLBad         float64 `json:"sl_bad"`
	AbandonedWarn float64 `json:"abandoned_warn"`
	AbandonedBad  float64 `json:"abandoned_bad"`
	WaitWarn      float64 `json:"wait_warn"`
	WaitBad       float64 `json:"wait_bad"`
}

func (p PanelConfig) thresholds() PanelThresholds {
	return PanelThresholds{SLWarn: p.SLWarn, SLBad: p.SLBad, AbandonedWarn: p.AbandonedWarn, AbandonedBad: p.AbandonedBad,
		WaitWarn: p.WaitWarn.Seconds(), WaitBad: p.WaitBad.Seconds()}
}

// PanelView is what /panel shows when it is first served; panel.js fills
// it from /events.
type PanelView struct {
	Meta PageMeta
	Boot PanelBoot
}

// panel serves the operator panel.
func (s *Server) panel(w http.ResponseWriter, r *http.Request) error {
	u, _ := UserFrom(r.Context())
	l := LocaleFrom(r.Context())
	groups := s.cfg.Panel.Groups
	if groups == nil {
		groups = []PanelGroup{}
	}
	v := PanelView{
		Meta: s.meta(r, l.T("panel.title"), "panel", "panel.js"),
		Boot: PanelBoot{Now: s.now(), Act: u.Role.Allows(RoleOperator), Own: u.Extension, Groups: groups, Thresholds: s.cfg.Panel.thresholds()},
	}
	s.render(w, r, http.StatusOK, Panel(v))
	return nil
}

// extension finds an extension by id.
func (s *Server) extension(id monitor.ExtensionID) (monitor.Extension, error) {
	for _, e := range s.deps.Hub.Snapshot().Extensions() {
		if e.ID == id {
			return e, nil
		}
	}
	return monitor.Extension{}, problem(ErrNotFound, "error.no_extension", "ID", clip(string(id)))
}

// queue finds a queue by id.
func (s *Server) queue(id monitor.QueueID) (monitor.Queue, error) {
	for _, q := range s.deps.Hub.Snapshot().Queues() {
		if q.ID == id {
			return q, nil
		}
	}
	return monitor.Queue{}, problem(ErrNotFound, "error.no_queue", "ID", clip(string(id)))
}

// offers reports whether source lists action in its status.
func (s *Server) offers(source monitor.SourceName, action monitor.Action) bool {
	for _, st := range s.deps.Hub.Snapshot().Sources() {
		if st.Name == source {
			return slices.Contains(st.Actions, action)
		}
	}
	return false
}

// apiDialExtension answers POST /api/extensions/{id}/dial: the user's own
// phone rings and, when answered, calls the extension (originate through
// the extension's source).
func (s *Server) apiDialExtension(w http.ResponseWriter, r *http.Request) error {
	u, _ := UserFrom(r.Context())
	ext, err := s.extension(monitor.ExtensionID(r.PathValue("id")))
	if err != nil {
		return err
	}
	if u.Extension == "" {
		return problem(ErrConflict, "error.no_own_phone")
	}
	if err := checkNumber("number", ext.Number); err != nil {
		return err
	}
	return s.control(w, r, monitor.ActionOriginate, ext.Source, u.Extension+" to "+ext.Number, func(ctx context.Context, c monitor.Controller) error {
		if !s.offers(ext.Source, monitor.ActionOriginate) {
			return monitor.ErrUnsupported
		}
		return c.Originate(ctx, u.Extension, ext.Number)
	})
}

// maxPauseReason bounds a pause reason (Asterisk keeps it in the queue
// log and its member list; 64 characters say enough).
const maxPauseReason = 64

// memberRequest is the body of the queue member actions.
type memberRequest struct {
	// Member is the member's interface (QueueMember.Interface).
	Member string `json:"member"`
	// Paused and Reason are for pause: pause (true) or unpause.
	Paused bool   `json:"paused"`
	Reason string `json:"reason"`
	// Name is for login: the member's display name.
	Name string `json:"name"`
}

// checkText refuses free text that could break a PBX's line protocol or
// is longer than max characters.
func checkText(field, v string, limit int) error {
	if utf8.RuneCountInString(v) > limit || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return problem(ErrBadRequest, "error.bad_text", "Field", field, "Max", limit)
	}
	return nil
}

// queueAction reads a member request for queue {id} and runs do through
// the queue's source, if it offers action; logged with the user.
func (s *Server) queueAction(w http.ResponseWriter, r *http.Request, action monitor.Action,
	do func(ctx context.Context, qc monitor.QueueController, q monitor.Queue, m memberRequest) error,
) error {
	var body memberRequest
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	if err := checkNumber("member", body.Member); err != nil {
		return err
	}
	if err := checkText("reason", body.Reason, maxPauseReason); err != nil {
		return err
	}
	if err := checkText("name", body.Name, maxPauseReason); err != nil {
		return err
	}
	q, err := s.queue(monitor.QueueID(r.PathValue("id")))
	if err != nil {
		return err
	}
	target := q.Name + " " + body.Member
	if action == monitor.ActionQueuePause {
		target += fmt.Sprintf(" paused=%t", body.Paused)
		if body.Reason != "" {
			target += " reason=" + body.Reason
		}
	}
	return s.control(w, r, action, q.Source, target, func(ctx context.Context, c monitor.Controller) error {
		qc, ok := c.(monitor.QueueController)
		if !ok || !s.offers(q.Source, action) {
			return monitor.ErrUnsupported
		}
		return do(ctx, qc, q, body)
	})
}

// apiQueuePause answers POST /api/queues/{id}/pause {"member","paused","reason"}.
func (s *Server) apiQueuePause(w http.ResponseWriter, r *http.Request) error {
	return s.queueAction(w, r, monitor.ActionQueuePause, func(ctx context.Context, qc monitor.QueueController, q monitor.Queue, m memberRequest) error {
		if q.FindMember(m.Member) == nil {
			return problem(ErrNotFound, "error.no_member", "Member", clip(m.Member), "Queue", q.Name)
		}
		reason := m.Reason
		if !m.Paused {
			reason = ""
		}
		return qc.PauseMember(ctx, q.Name, m.Member, m.Paused, reason)
	})
}

// apiQueueLogin answers POST /api/queues/{id}/login {"member","name"}.
func (s *Server) apiQueueLogin(w http.ResponseWriter, r *http.Request) error {
	return s.queueAction(w, r, monitor.ActionQueueAdd, func(ctx context.Context, qc monitor.QueueController, q monitor.Queue, m memberRequest) error {
		return qc.AddMember(ctx, q.Name, m.Member, m.Name)
	})
}

// apiQueueLogout answers POST /api/queues/{id}/logout {"member"}.
func (s *Server) apiQueueLogout(w http.ResponseWriter, r *http.Request) error {
	return s.queueAction(w, r, monitor.ActionQueueRemove, func(ctx context.Context, qc monitor.QueueController, q monitor.Queue, m memberRequest) error {
		if q.FindMember(m.Member) == nil {
			return problem(ErrNotFound, "error.no_member", "Member", clip(m.Member), "Queue", q.Name)
		}
		return qc.RemoveMember(ctx, q.Name, m.Member)
	})
}
