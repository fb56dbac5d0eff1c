package web

import (
	"errors"
	"fmt"
)

var (
	// ErrUnauthenticated is returned when a request carries no valid
	// session or token; pages redirect to /login, the API answers 401.
	ErrUnauthenticated = errors.New("not signed in")
	// ErrForbidden is returned when the signed-in user's role does not
	// allow the request.
	ErrForbidden = errors.New("not allowed for this role")
	// ErrBadCSRF is returned when a state-changing request lacks the
	// session's CSRF token.
	ErrBadCSRF = errors.New("missing or wrong CSRF token")
	// ErrBadRequest is returned for malformed parameters or bodies.
	ErrBadRequest = errors.New("bad request")
	// ErrConflict is returned for an action the state does not allow: a
	// call put through to an extension of another phone system, dialling
	// for a user who has no phone of their own (409).
	ErrConflict = errors.New("not possible in this state")
	// ErrNotFound is returned for unknown routes, sources or links.
	ErrNotFound = errors.New("not found")
	// ErrMethodNotAllowed is returned for a path served with other
	// methods only; the answer is 405 with Allow.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrTooManyAttempts is returned when failed logins from a client or
	// for a user name exceed the rate limit.
	ErrTooManyAttempts = errors.New("too many failed sign-in attempts")
	// ErrCatalogue is returned when a message catalogue (locales/*.toml)
	// cannot be read.
	ErrCatalogue = errors.New("message catalogue")
	// ErrInvalidConfig is wrapped by Config.Validate.
	ErrInvalidConfig = errors.New("invalid web configuration")
	// ErrNoHistory is returned by history routes when no history store is
	// configured.
	ErrNoHistory = errors.New("call history is not configured")
	// ErrInvalidToken is returned for a bearer token that is not
	// configured (or an Authorization header that is no bearer token).
	ErrInvalidToken = errors.New("invalid token")
	// ErrNoSession is what a SessionStore returns for a sign-in it does
	// not hold.
	ErrNoSession = errors.New("no such sign-in")
	// ErrSessionExists is what a SessionStore returns for a sign-in whose
	// hash or ID it already holds.
	ErrSessionExists = errors.New("sign-in already stored")
	// ErrSessionStore wraps a failure of the SessionStore: sign-ins cannot
	// be checked or made just now (503).
	ErrSessionStore = errors.New("sign-ins cannot be checked just now; try again in a moment")
)

// errSessionExpired is the ErrUnauthenticated of a sign-in past its
// lifetime.
var errSessionExpired = fmt.Errorf("%w: session expired", ErrUnauthenticated)
