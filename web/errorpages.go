package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// errorView says in plain words what went wrong with r and what to do,
// for the error page. The page keeps the frame of the others: a request
// that no route authenticated (an unknown path) is authenticated here, so
// that a signed-in user keeps the menu.
func (s *Server) errorView(r *http.Request, status int, err error, msg string) ErrorView {
	if _, ok := r.Context().Value(principalKey{}).(principal); !ok {
		if p, aerr := s.authenticate(r); aerr == nil {
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
	}
	ctx := r.Context()
	m := s.meta(r, statusText(ctx, status), "")
	v := ErrorView{Meta: m, Status: status, Message: msg}
	home := NavItem{Key: "wallboard", Href: "/", Label: T(ctx, "error.link.home")}
	signIn := NavItem{Key: "login", Href: "/login", Label: T(ctx, "error.link.login")}
	if m.User != "" {
		v.Links = []NavItem{home}
	} else {
		v.Links = []NavItem{signIn}
	}
	var fb forbidden
	switch {
	case status == http.StatusNotFound:
		if errors.Is(err, ErrNotFound) && err.Error() != ErrNotFound.Error() {
			v.Message = Say(ctx, err)
		} else {
			v.Message = T(ctx, "error.not_found", "Path", clip(r.URL.Path))
			v.Hint = T(ctx, "error.not_found_hint")
		}
	case errors.As(err, &fb):
		v.Message = T(ctx, "error.forbidden", "Need", T(ctx, "role."+string(fb.need)), "User", m.User, "Have", T(ctx, "role."+string(fb.have)))
		v.Hint = T(ctx, "error.forbidden_hint", "Need", T(ctx, "role."+string(fb.need)))
	case errors.Is(err, ErrBadCSRF):
		v.Message = T(ctx, "error.csrf")
		v.Hint = T(ctx, "error.csrf_hint")
	case status == http.StatusBadRequest:
		v.Message = Say(ctx, err)
		v.Hint = T(ctx, "error.bad_request_hint")
	case status == http.StatusServiceUnavailable:
		v.Message = sentence(msg)
		if errors.Is(err, ErrSessionStore) {
			v.Message = T(ctx, "error.session_store")
		}
		v.Hint = T(ctx, "error.unavailable_hint")
	case status == http.StatusInternalServerError:
		v.Message = T(ctx, "error.internal")
		v.Hint = T(ctx, "error.internal_hint")
	case errors.Is(err, ErrMethodNotAllowed):
		v.Message = T(ctx, "error.method")
		v.Hint = sentence(strings.TrimPrefix(msg, ErrMethodNotAllowed.Error()+": "))
	default:
		v.Message = sentence(msg)
		if p := (*Problem)(nil); errors.As(err, &p) {
			v.Message = Say(ctx, err)
		}
	}
	return v
}

// sentence starts s with a capital and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}
