package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/web/webhook"
)

// TestServeWebhook checks that a call ended on the router reaches a
// configured webhook, signed.
func TestServeWebhook(t *testing.T) {
	got := make(chan monitor.Call, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(webhook.SignatureHeader) != webhook.Sign([]byte("hook-secret"), body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m struct {
			Call monitor.Call `json:"call"`
		}
		if json.Unmarshal(body, &m) == nil {
			got <- m.Call
		}
	}))
	defer hook.Close()
	router := fritztest.New(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("admin password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	url := startServerWith(t, router, fmt.Sprintf("webhooks:\n  - url: %s?token=abc\n    secret: hook-secret\nusers:\n  - name: anna\n    password_hash: %q\n    role: admin\n", hook.URL, hash))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format("02.01.06 15:04:05")
	router.Send(now + ";RING;3;0401234;5551234;SIP0;")
	router.Send(now + ";DISCONNECT;3;0;")
	for {
		select {
		case c := <-got:
			if c.State == monitor.Ended {
				if c.Reason != monitor.ReasonNoAnswer {
					t.Fatalf("webhook got reason %s, want no-answer", c.Reason)
				}
				checkHealthzWebhook(t, http.DefaultClient, url, "")
				checkHealthzWebhook(t, signIn(t, ctx, url, "anna", "admin password"), url, hook.URL)
				checkConsumerMetrics(t, ctx, url)
				return
			}
		case <-ctx.Done():
			t.Fatal("no ended call reached the webhook")
		}
	}
}

// checkHealthzWebhook finds the endpoint on /healthz as c sees it: for
// an admin its URL without its query, for anyone else no URL.
func checkHealthzWebhook(t *testing.T, c *http.Client, base, hookURL string) {
	t.Helper()
	resp, err := c.Get(base + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Webhooks []struct {
			URL string `json:"url"`
		} `json:"webhooks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if len(h.Webhooks) != 1 || h.Webhooks[0].URL != hookURL {
		t.Fatalf("healthz webhooks = %+v, want %q (without its query)", h.Webhooks, hookURL)
	}
}

// checkConsumerMetrics finds the history's and the webhooks' queue metrics
// on /metrics: serve registers both.
func checkConsumerMetrics(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	status, body := getWithToken(t, ctx, base+"metrics")
	if status != http.StatusOK {
		t.Fatalf("metrics: %d", status)
	}
	for _, want := range []string{"switchboard_history_queued ", "switchboard_history_behind_seconds ", `switchboard_history_unsaved_total{reason="overflow"}`,
		"switchboard_webhook_behind_seconds{", "switchboard_webhook_dropped_total{"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
