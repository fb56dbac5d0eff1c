//go:build !linux

package web

import (
	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
)

// eventMuxSlot is empty here: without epoll every /events socket has its
// own goroutine (serveEvents).
type eventMuxSlot struct{}

// eventMux is not built here.
type eventMux struct{}

// eventMuxFor returns nil: every socket gets the goroutine path.
func (s *Server) eventMuxFor(*hijackRecorder) *eventMux { return nil }

func (m *eventMux) serve(*websocket.Conn, *openStream, *monitor.Resume) {}
