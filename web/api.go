package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// controlTimeout bounds one call-control request to a source.
const controlTimeout = 10 * time.Second

// dialable is what a number in a call-control request may look like:
// digits, a SIP user or address, dial-string characters. Nothing else ever
// reaches a PBX command line (AMI and ESL are line protocols, so a newline
// would inject a command).
var dialable = regexp.MustCompile(`^[0-9A-Za-z+*#@._:/-]{1,64}$`)

func (s *Server) apiCalls(w http.ResponseWriter, r *http.Request) error {
	// The same snapshot /events starts with.
	snap := s.deps.Hub.Snapshot()
	snap.Now = s.now()
	writeJSON(w, http.StatusOK, snap)
	return nil
}

// historyResponse is one page of GET /api/history.
type historyResponse struct {
	Total  int            `json:"total"`
	Limit  int            `json:"limit"`
	Offset int            `json:"offset"`
	Calls  []monitor.Call `json:"calls"`
}

func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request) error {
	if s.deps.History == nil {
		return ErrNoHistory
	}
	f, err := s.historyFilter(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.deps.History.Query(r.Context(), f)
	if err != nil {
		return fmt.Errorf("history query: %w", err)
	}
	if page.Calls == nil {
		page.Calls = []monitor.Call{}
	}
	writeJSON(w, http.StatusOK, historyResponse{Total: page.Total, Limit: f.Limit, Offset: f.Offset, Calls: page.Calls})
	return nil
}

// decodeBody reads a small JSON request body into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: body: %w", ErrBadRequest, err)
	}
	return nil
}

func checkNumber(field, n string) error {
	if !dialable.MatchString(n) {
		return problem(ErrBadRequest, "error.bad_party", "Field", field, "Value", clip(n))
	}
	return nil
}

// activeCall finds an active call by id.
func (s *Server) activeCall(id monitor.CallID) (monitor.Call, error) {
	for _, c := range s.deps.Hub.Snapshot().Calls() {
		if c.ID == id {
			return c, nil
		}
	}
	return monitor.Call{}, fmt.Errorf("call %s: %w", id, monitor.ErrNoSuchCall)
}

// controller returns the controller of source; ErrNotFound for a source
// that does not exist, ErrUnsupported for one without call control.
func (s *Server) controller(source monitor.SourceName) (monitor.Controller, error) {
	if c, ok := s.deps.Controllers[source]; ok && c != nil {
		return c, nil
	}
	for _, st := range s.deps.Hub.Snapshot().Sources() {
		if st.Name == source {
			return nil, fmt.Errorf("source %s: %w", source, monitor.ErrUnsupported)
		}
	}
	return nil, fmt.Errorf("%w: source %q", ErrNotFound, source)
}

// control runs one call-control action and logs it with the user.
func (s *Server) control(w http.ResponseWriter, r *http.Request, action monitor.Action, source monitor.SourceName, target string, do func(ctx context.Context, c monitor.Controller) error) error {
	u, _ := UserFrom(r.Context())
	c, err := s.controller(source)
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), controlTimeout)
		err = do(ctx, c)
		cancel()
	}
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	s.log.Info("call control", "user", u.Name, "role", u.Role, "action", action, "source", source, "target", target, "result", result)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) apiHangup(w http.ResponseWriter, r *http.Request) error {
	call, err := s.activeCall(monitor.CallID(r.PathValue("id")))
	if err != nil {
		return err
	}
	return s.control(w, r, monitor.ActionHangup, call.Source, string(call.ID), func(ctx context.Context, c monitor.Controller) error {
		return c.Hangup(ctx, call.ID)
	})
}

func (s *Server) apiTransfer(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		// To is a number; Extension an extension's id, whose number is
		// dialled (the operator panel's drop of a call on a lamp).
		To        string `json:"to"`
		Extension string `json:"extension"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	call, err := s.activeCall(monitor.CallID(r.PathValue("id")))
	if err != nil {
		return err
	}
	to := body.To
	if body.Extension != "" {
		ext, err := s.extension(monitor.ExtensionID(body.Extension))
		if err != nil {
			return err
		}
		if ext.Source != call.Source {
			// Another phone system's extension number may mean another
			// phone, or none, on the call's system.
			return problem(ErrConflict, "error.other_system", "Extension", ext.Number, "Source", string(ext.Source), "CallSource", string(call.Source))
		}
		to = ext.Number
	}
	if err := checkNumber("to", to); err != nil {
		return err
	}
	return s.control(w, r, monitor.ActionTransfer, call.Source, string(call.ID)+" to "+to, func(ctx context.Context, c monitor.Controller) error {
		return c.Transfer(ctx, call.ID, to)
	})
}

func (s *Server) apiOriginate(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Source string `json:"source"`
		From   string `json:"from"`
		To     string `json:"to"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	if err := checkNumber("from", body.From); err != nil {
		return err
	}
	if err := checkNumber("to", body.To); err != nil {
		return err
	}
	return s.control(w, r, monitor.ActionOriginate, monitor.SourceName(body.Source), body.From+" to "+body.To, func(ctx context.Context, c monitor.Controller) error {
		return c.Originate(ctx, body.From, body.To)
	})
}

// wallLinkResponse answers POST /api/wall-links.
type wallLinkResponse struct {
	Name    string    `json:"name"`
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// apiWallLink answers POST /api/wall-links {"name": "Hall TV"}: a
// one-time link that signs a wall screen in as the device name.
func (s *Server) apiWallLink(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name string `json:"name"`
		// Lang is the screen's language ("de"); empty for its browser's.
		Lang string `json:"lang"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	link, err := s.makeWallLink(r, body.Name, body.Lang)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, link)
	return nil
}

// makeWallLink makes a one-time link for a device named name that shows
// lang (empty: the language of the screen's browser).
func (s *Server) makeWallLink(r *http.Request, name, lang string) (wallLinkResponse, error) {
	u, _ := UserFrom(r.Context())
	name, err := deviceName(name)
	if err != nil {
		return wallLinkResponse{}, err
	}
	if lang != "" {
		tag, ok := s.catalogue.known(lang)
		if !ok {
			return wallLinkResponse{}, problem(ErrBadRequest, "error.unknown_language", "Lang", clip(lang))
		}
		lang = tag.String()
	}
	code, exp := s.walls.create(name, u.Name, lang)
	s.log.Info("wall-screen link created", "user", u.Name, "device", name, "expires", exp)
	return wallLinkResponse{Name: name, URL: s.baseURL(r) + wallLinkPathPart + code, Expires: exp}, nil
}

// baseURL is where users reach the server, for links it hands out:
// public_url when configured; else the scheme (requestScheme: TLS, or
// a trusted proxy's word) and Host of r, which the
// cross-origin check has matched against the browser's Origin for every
// state-changing request a browser sends.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := s.requestScheme(r)
	if s.cfg.SecureCookies == CookieSecureAlways {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
