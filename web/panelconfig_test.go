package web

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPanelConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    PanelConfig
		want string
	}{
		{"defaults", PanelConfig{}, ""},
		{"groups", PanelConfig{Groups: []PanelGroup{{Name: "Reception", Extensions: []string{"201", "pbx:2*"}}}}, ""},
		{"group without name", PanelConfig{Groups: []PanelGroup{{Extensions: []string{"201"}}}}, "name is required"},
		{"group twice", PanelConfig{Groups: []PanelGroup{{Name: "A", Extensions: []string{"1"}}, {Name: "A", Extensions: []string{"2"}}}}, "duplicate"},
		{"empty group", PanelConfig{Groups: []PanelGroup{{Name: "A"}}}, "at least one"},
		{"pattern with a space", PanelConfig{Groups: []PanelGroup{{Name: "A", Extensions: []string{"2 01"}}}}, "pattern"},
		{"SL over 100", PanelConfig{SLWarn: 120}, "percentage"},
		{"SL bad above warn", PanelConfig{SLWarn: 70, SLBad: 80}, "lower service level"},
		{"abandoned bad below warn", PanelConfig{AbandonedWarn: 10, AbandonedBad: 5}, "more abandoned"},
		{"wait bad below warn", PanelConfig{WaitWarn: time.Minute, WaitBad: 30 * time.Second}, "wait_bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.withDefaults().validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("validate = %v, want %q", err, tt.want)
			}
		})
	}
	// Through the whole configuration: named as the panel's, classified.
	cfg := testConfig(t)
	cfg.Panel.SLWarn = 101
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "panel: sl_warn") {
		t.Errorf("Validate = %v", err)
	}
	cfg = testConfig(t)
	cfg.Users[0].Extension = "201\nAction: Logoff"
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "extension") {
		t.Errorf("Validate with a bad own extension = %v", err)
	}
	cfg = testConfig(t)
	cfg.Users[0].Role = "boss"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "operator") {
		t.Errorf("Validate with an unknown role = %v, want the roles named", err)
	}
}

func TestRoleOrder(t *testing.T) {
	t.Parallel()
	order := []Role{RoleViewer, RoleUser, RoleOperator, RoleAdmin}
	for i, have := range order {
		for j, need := range order {
			if got := have.Allows(need); got != (i >= j) {
				t.Errorf("%s.Allows(%s) = %t", have, need, got)
			}
		}
	}
	if Role("root").Allows(RoleViewer) || Role("").Valid() {
		t.Error("an unknown role allows something")
	}
}
