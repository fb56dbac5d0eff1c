package web

import (
	"context"
	"errors"
	"fmt"
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
	m := s.meta(r, http.StatusText(status), "")
	v := ErrorView{Meta: m, Status: status, Message: msg}
	home := NavItem{Key: "wallboard", Href: "/", Label: "Go to the wallboard"}
	signIn := NavItem{Key: "login", Href: "/login", Label: "Sign in"}
	if m.User != "" {
		v.Links = []NavItem{home}
	} else {
		v.Links = []NavItem{signIn}
	}
	var fb forbidden
	switch {
	case status == http.StatusNotFound:
		if errors.Is(err, ErrNotFound) && err.Error() != ErrNotFound.Error() {
			v.Message = sentence(strings.TrimPrefix(err.Error(), ErrNotFound.Error()+": "))
		} else {
			v.Message = fmt.Sprintf("There is no page at %s.", clip(r.URL.Path))
			v.Hint = "Check the address for a typing mistake, or start again from the wallboard."
		}
	case errors.As(err, &fb):
		v.Message = fmt.Sprintf("This page is for the role %s or above; you are signed in as %s (%s).", fb.need, m.User, fb.have)
		v.Hint = fmt.Sprintf("Ask an admin to do it for you, or sign out and sign in as someone with the role %s.", fb.need)
	case errors.Is(err, ErrBadCSRF):
		v.Message = "The form could not be checked: it was open too long, or it came from another site."
		v.Hint = "Go back, reload the page and try again."
	case status == http.StatusBadRequest:
		v.Message = sentence(strings.TrimPrefix(msg, ErrBadRequest.Error()+": "))
		v.Hint = "Check what you entered and try again."
	case status == http.StatusServiceUnavailable:
		v.Message = sentence(msg)
		v.Hint = "Wait a moment and reload the page."
	case status == http.StatusInternalServerError:
		v.Message = "Something went wrong on the server."
		v.Hint = "Try again; if it keeps happening, the server's log says what went wrong."
	default:
		v.Message = sentence(msg)
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
