package gateway_test

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/web"
)

// The page tests of package gateway run the real softphone page, which
// package web serves; web imports gateway, so only this external test
// package can build the server for them.
func init() {
	gateway.PageServer = func(t *testing.T, g *gateway.Gateway, users map[string][]string, password string) string {
		t.Helper()
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		var cfg web.Config
		for name, accounts := range users {
			cfg.Users = append(cfg.Users, web.User{Name: name, PasswordHash: string(hash), Role: web.RoleUser, Accounts: accounts})
		}
		hub := monitor.NewHub(monitor.HubConfig{})
		srv, err := web.New(cfg, web.Deps{Hub: hub, Phone: g}, web.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		t.Cleanup(func() {
			_ = g.Close()
			ts.Close()
			hub.Close()
		})
		return ts.URL + "/"
	}
}
