package web

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/a-h/templ"
)

// middleware wraps a handler.
type middleware func(http.Handler) http.Handler

// chain applies the server's middleware around h; the first listed runs
// first.
func (s *Server) chain(h http.Handler) http.Handler {
	mws := []middleware{s.logRequests, s.recoverPanics, s.limitBodies, s.secureHeaders, s.localize, crossOrigin}
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// statusWriter remembers the status for the request log. Unwrap lets
// http.ResponseController and the WebSocket upgrade reach the original.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs every request at Debug, never its query (which may
// hold a search) or headers (which may hold credentials).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.log.Debug("http", "method", clip(r.Method), "path", logPath(r.URL.Path), "status", sw.status,
			"dur", time.Since(start), "remote", s.clientAddr(r))
	})
}

// logPath is a request path as logs show it: clipped, and without the
// one-time code of a wall-screen link.
func logPath(p string) string {
	if strings.HasPrefix(p, wallLinkPathPart) {
		return wallLinkPathPart + "…"
	}
	return clip(p)
}

// maxBody bounds every request body; handlers that take less say so with
// a MaxBytesReader of their own.
const maxBody = 64 << 10

// limitBodies puts a deadline and a size limit on every request body, so
// that a client sending one byte now and then cannot hold a connection:
// the body must arrive within body_timeout of the handler's start.
// net/http lifts the read deadline itself once the body has been read
// (to watch for the client going away), so a handler that takes its time
// afterwards is not cut off by it. WebSocket upgrades are left alone:
// they have no body, and the socket has timeouts of its own.
func (s *Server) limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" && r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.Limits.BodyTimeout))
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler into a logged 500, so none
// escapes into net/http (which would drop the connection silently).
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("handler panic", "method", clip(r.Method), "path", logPath(r.URL.Path),
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				// If the handler already wrote a header this is a no-op
				// besides a log line from net/http.
				if wantsJSON(r) {
					writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
					return
				}
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// secureHeaders sets every security header in one place. Scripts run only
// from our origin or with this request's nonce; who may frame the pages
// comes from frame_ancestors (CSP Level 2, section 7.7), which replaces
// X-Frame-Options so a portal can embed them.
func (s *Server) secureHeaders(next http.Handler) http.Handler {
	pages := strings.Join(s.cfg.FrameAncestors, " ")
	portals := s.embedAncestors()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce := randomToken(16)
		h := w.Header()
		// The embed views (and the sign-in they may land on) can be
		// framed by the portals of embed_origins; every other page as
		// frame_ancestors says.
		ancestors := pages
		if s.embedding() && framedPath(r.URL.Path) {
			ancestors = portals
		}
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'nonce-"+nonce+"'; "+
			"style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "+
			"base-uri 'none'; form-action 'self'; frame-ancestors "+ancestors)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", permissionsPolicy(r.URL.Path))
		if s.requestScheme(r) == "https" {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r.WithContext(templ.WithNonce(r.Context(), nonce)))
	})
}

// microphonePages are the pages with a softphone: the only ones that may
// ask for the microphone.
var microphonePages = map[string]bool{"/softphone": true, "/embed/phone": true}

// permissionsPolicy is the Permissions-Policy of path: no camera, no
// location, and the microphone only where the softphone is. A frame's
// own policy allows it for itself; the portal's iframe must delegate it
// with allow="microphone".
func permissionsPolicy(path string) string {
	mic := "()"
	if microphonePages[path] {
		mic = "(self)"
	}
	return "camera=(), geolocation=(), payment=(), usb=(), microphone=" + mic
}

// crossOrigin refuses state-changing requests that a browser marks as
// coming from another origin (Sec-Fetch-Site, Origin), on top of the CSRF
// tokens.
func crossOrigin(next http.Handler) http.Handler {
	return http.NewCrossOriginProtection().Handler(next)
}

// nonceFrom returns the request's CSP nonce.
func nonceFrom(ctx context.Context) string { return templ.GetNonce(ctx) }
