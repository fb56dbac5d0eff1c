package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/a-h/templ"

	"github.com/switchboard/switchboard/monitor"
)

// handlerFunc is a handler that returns its error; handle maps it to a
// status and a page or JSON body in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.serveError(w, r, err)
		}
	})
}

// statusOf classifies err.
func statusOf(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The body did not arrive within body_timeout.
		return http.StatusRequestTimeout
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrUnauthenticated), errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrBadCSRF):
		return http.StatusForbidden
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound), errors.Is(err, monitor.ErrNoSuchCall):
		return http.StatusNotFound
	case errors.Is(err, ErrTooManyAttempts):
		return http.StatusTooManyRequests
	case errors.Is(err, monitor.ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, monitor.ErrRefused), errors.Is(err, ErrConflict):
		// The PBX heard the action and said no (AMI "Response: Error",
		// ESL -ERR): the request conflicts with the call's state there.
		// The body carries the PBX's own words.
		return http.StatusConflict
	case errors.Is(err, monitor.ErrActionLost):
		// The link to the PBX broke before it answered: the upstream
		// failed, and whether the action happened is unknown.
		return http.StatusBadGateway
	case errors.Is(err, monitor.ErrNotConnected), errors.Is(err, ErrNoHistory), errors.Is(err, monitor.ErrHubClosed),
		errors.Is(err, ErrSessionStore):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// wantsJSON reports whether r is an API or machine request rather than a
// page view.
func wantsJSON(r *http.Request) bool {
	p := r.URL.Path
	if strings.HasPrefix(p, "/api/") || p == "/events" || p == "/phone" || p == "/metrics" || p == "/healthz" {
		return true
	}
	if r.Header.Get("Authorization") != "" || r.Header.Get("Upgrade") != "" {
		return true
	}
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// serveError writes err as a status with a JSON body or an error page.
// Server faults are logged and shown without detail.
func (s *Server) serveError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := err.Error()
	switch status {
	case http.StatusInternalServerError:
		s.log.Error("request failed", "method", clip(r.Method), "path", logPath(r.URL.Path), "err", err)
		msg = "internal error"
	case http.StatusServiceUnavailable:
		if errors.Is(err, ErrSessionStore) {
			s.log.Error("sign-ins cannot be read or written", "method", clip(r.Method), "path", logPath(r.URL.Path), "err", err)
			msg = ErrSessionStore.Error()
		} else {
			s.log.Debug("request refused", "method", clip(r.Method), "path", logPath(r.URL.Path), "status", status, "remote", s.clientAddr(r), "err", clip(err.Error()))
		}
	case http.StatusRequestTimeout:
		s.metrics.bodyTimeouts.Inc()
		msg = "the request body did not arrive in time"
		s.log.Debug("request refused", "method", clip(r.Method), "path", logPath(r.URL.Path), "status", status, "remote", s.clientAddr(r))
	default:
		s.log.Debug("request refused", "method", clip(r.Method), "path", logPath(r.URL.Path), "status", status, "remote", s.clientAddr(r), "err", clip(err.Error()))
	}
	if status == http.StatusUnauthorized && !wantsJSON(r) && safeMethod(r.Method) {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if wantsJSON(r) {
		switch {
		case errors.Is(err, ErrInvalidToken):
			// RFC 6750 section 3.1.
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard", error="invalid_token"`)
		case status == http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
		}
		// "error" stays as it was for API clients; "message" is for the
		// pages, in the reader's language.
		writeJSON(w, status, map[string]string{"error": msg, "message": apiMessage(r.Context(), err, status, msg)})
		return
	}
	s.render(w, r, status, ErrorPage(s.errorView(r, status, err, msg)))
}

// notFound answers a request no route took: 405 with Allow when the
// path is served for other methods, else 404.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != catchAll {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return ErrNotFound
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return fmt.Errorf("%w: %s %s; use %s", ErrMethodNotAllowed, clip(r.Method), r.URL.Path, strings.Join(allow, " or "))
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

// render writes a component as an HTML page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	// The page is rendered into memory, so the request's cancellation does
	// not matter; an answer is still due after a body read failed (which
	// cancels it), such as the 408 for a body that came too slowly.
	if err := c.Render(context.WithoutCancel(r.Context()), buf); err != nil {
		s.log.Error("render page", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Render writes c as an HTML page with status; for pages mounted with
// Handle.
func (s *Server) Render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	s.render(w, r, status, c)
}
