package web_test

import (
	"testing"

	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/web/sessiontest"
)

func TestMemorySessions(t *testing.T) {
	t.Parallel()
	sessiontest.Run(t, func(*testing.T) web.SessionStore { return web.NewMemorySessions() })
}
