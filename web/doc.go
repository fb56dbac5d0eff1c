// Package web is Switchboard's HTTP server: the wallboard, call history and
// login pages (templ components in *.templ), the /events WebSocket that
// pushes call changes to browsers, the JSON API with call control,
// /healthz and /metrics, and the authentication that guards them. Sign-ins
// (users' sessions and wall-screen devices) are kept by a [SessionStore]:
// in memory by default, in the history's database with web/sessiondb.
//
// Start with [New] and [Server.Run]; every route is listed in routes.go.
// Other packages mount their own authenticated pages with [Server.Handle],
// read the signed-in user with [UserFrom] and wrap their pages in [Layout].
package web
