package web

import "errors"

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
	// ErrNotFound is returned for unknown routes, sources or links.
	ErrNotFound = errors.New("not found")
	// ErrMethodNotAllowed is returned for a path served with other
	// methods only; the answer is 405 with Allow.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrTooManyAttempts is returned when failed logins from a client or
	// for a user name exceed the rate limit.
	ErrTooManyAttempts = errors.New("too many failed sign-in attempts")
	// ErrInvalidConfig is wrapped by Config.Validate.
	ErrInvalidConfig = errors.New("invalid web configuration")
	// ErrNoHistory is returned by history routes when no history store is
	// configured.
	ErrNoHistory = errors.New("call history is not configured")
)
