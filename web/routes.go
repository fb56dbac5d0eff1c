package web

import (
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes lists every route of the server, with the least role each needs
// and the menu entries. Everything needs a sign-in except /healthz,
// /login and /static/.
func (s *Server) routes() {
	open := func(pattern string, fn handlerFunc) { s.mux.Handle(pattern, s.handle(fn)) }
	as := func(role Role, pattern string, fn handlerFunc) { s.Handle(pattern, s.handle(fn), role) }

	open("GET /healthz", s.healthz)
	open("GET /static/", serveStatic)
	open("GET /login", s.loginForm)
	open("POST /login", s.login)
	open("GET "+oidcPath, s.oidcStart)
	open("GET "+oidcPath+"/callback", s.oidcCallback)
	open("POST "+oidcPath+"/claim", s.oidcClaim)
	open("POST /language", s.chooseLanguage)
	open("GET /wall/{code}", s.useWallLink)

	as(RoleViewer, "POST /logout", s.logout)
	as(RoleViewer, "GET /{$}", s.wallboard)
	s.addNav("wallboard", "/", "nav.wallboard", RoleViewer)
	as(RoleViewer, "GET /wall", s.kiosk)
	as(RoleViewer, "GET /history", s.historyPage)
	as(RoleViewer, "GET /history.csv", s.historyCSV)
	s.addNav("history", "/history", "nav.history", RoleViewer)
	as(RoleViewer, "GET /events", s.events)
	as(RoleUser, "GET /softphone", s.softphone)
	s.addNav("phone", "/softphone", "nav.phone", RoleUser)
	as(RoleUser, "GET /phone", s.phone)
	as(RoleUser, "GET /embed/phone", s.embedPhone)
	as(RoleViewer, "GET /embed/calls", s.embedCalls)
	as(RoleViewer, "GET /embed/wallboard", s.embedWallboard)
	s.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{}), RoleViewer)

	as(RoleViewer, "GET /api/calls", s.apiCalls)
	as(RoleViewer, "GET /api/history", s.apiHistory)
	as(RoleViewer, "GET /api/today", s.apiToday)
	as(RoleAdmin, "POST /api/calls/{id}/hangup", s.apiHangup)
	as(RoleOperator, "GET /panel", s.panel)
	s.addNav("panel", "/panel", "nav.panel", RoleOperator)
	as(RoleOperator, "POST /api/calls/{id}/transfer", s.apiTransfer)
	as(RoleOperator, "POST /api/extensions/{id}/dial", s.apiDialExtension)
	as(RoleOperator, "POST /api/queues/{id}/pause", s.apiQueuePause)
	as(RoleOperator, "POST /api/queues/{id}/login", s.apiQueueLogin)
	as(RoleOperator, "POST /api/queues/{id}/logout", s.apiQueueLogout)
	as(RoleAdmin, "POST /api/originate", s.apiOriginate)
	as(RoleAdmin, "POST /api/wall-links", s.apiWallLink)
	as(RoleAdmin, "GET /settings/devices", s.devicesPage)
	s.addNav("devices", "/settings/devices", "nav.devices", RoleAdmin)
	as(RoleAdmin, "POST /settings/devices", s.devicesLink)
	as(RoleAdmin, "POST /settings/devices/{id}/revoke", s.revokeDevice)
	open("GET /favicon.ico", serveFavicon)

	open(catchAll, s.notFound)
}

// catchAll is the pattern of the route that takes what no other does.
const catchAll = "/"
