package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor/phonebook"
	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/web/webhook"
)

var errUnsetEnv = errors.New("configuration names unset environment variables")

// defaultConfig is what `switchboard serve` runs without --config: a demo
// source replaying a bundled Fritz!Box recording, so a fresh checkout shows
// live calls at once. The admin password is made up at start and printed.
//
//go:embed default.yaml
var defaultConfig []byte

// config is the whole YAML tree. Each package owns its section; the source
// list is decoded per entry by the entry's type (see sources.go).
type config struct {
	Web     web.Config `yaml:",inline"`
	DataDir string     `yaml:"data_dir"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level"`
	// ShutdownTimeout bounds the orderly stop on SIGTERM or SIGINT; what
	// still runs then is forced. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Sources         []yaml.Node   `yaml:"sources"`
	// Webhooks receive every call change as a signed JSON POST.
	Webhooks []webhook.Config `yaml:"webhooks"`
	// SIP is the softphone's SIP user agent; Accounts are the SIP accounts
	// it registers (each one a monitor source of its own).
	SIP      sipbridge.Config          `yaml:"sip"`
	Accounts []sipbridge.AccountConfig `yaml:"accounts"`
	// Gateway is the browser side of the softphone (WebRTC).
	Gateway gateway.Config `yaml:"gateway"`
	// Phonebooks name the numbers sources report without a name;
	// DefaultCountry (ISO 3166, "DE") is the country national numbers
	// are read in when comparing them.
	Phonebooks     []phonebook.Config `yaml:"phonebooks"`
	DefaultCountry string             `yaml:"default_country"`
}

// loadConfig reads path (or the embedded default when path is empty),
// expands ${ENV} references and decodes it, rejecting unknown keys.
func loadConfig(path string) (*config, error) {
	raw := defaultConfig
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		raw = b
	}
	return parseConfig(raw, path)
}

func parseConfig(raw []byte, path string) (*config, error) {
	text, err := expandEnv(raw, nil)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", displayPath(path), err)
	}
	var c config
	if err := strictDecode(text, &c); err != nil {
		return nil, fmt.Errorf("config %s: %w", displayPath(path), err)
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	if path != "" && !filepath.IsAbs(c.DataDir) {
		// Relative paths are relative to the working directory, as a user
		// running `switchboard serve --config x.yaml` expects.
		c.DataDir = filepath.Clean(c.DataDir)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", displayPath(path), err)
	}
	return &c, nil
}

func displayPath(p string) string {
	if p == "" {
		return "(built-in default)"
	}
	return p
}

// strictDecode decodes YAML into v, rejecting keys v does not know.
func strictDecode(text []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	return nil
}

// decodeNode decodes one YAML node strictly: yaml.v3's Node.Decode has no
// KnownFields, so the node is re-encoded and decoded again.
func decodeNode(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	return strictDecode(b, v)
}

func (c *config) logLevel() (slog.Level, error) {
	var l slog.Level
	if c.LogLevel == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(strings.ToUpper(c.LogLevel))); err != nil {
		return 0, fmt.Errorf("log_level %q: %w", c.LogLevel, err)
	}
	return l, nil
}

// defaultShutdownTimeout is shutdown_timeout when the configuration has
// none.
const defaultShutdownTimeout = 10 * time.Second

// minShutdownTimeout is the shortest shutdown_timeout: less leaves no
// time to tell anyone anything.
const minShutdownTimeout = 100 * time.Millisecond

func (c *config) validate() error {
	if _, err := c.logLevel(); err != nil {
		return err
	}
	if c.ShutdownTimeout < minShutdownTimeout {
		return fmt.Errorf("shutdown_timeout %s is too short: at least %s", c.ShutdownTimeout, minShutdownTimeout)
	}
	seen := map[string]bool{}
	for i := range c.Sources {
		var head struct {
			Name string `yaml:"name"`
			Type string `yaml:"type"`
		}
		if err := c.Sources[i].Decode(&head); err != nil {
			return fmt.Errorf("sources[%d]: %w", i, err)
		}
		if head.Name == "" || head.Type == "" {
			return fmt.Errorf("sources[%d]: name and type are required", i)
		}
		if seen[head.Name] {
			return fmt.Errorf("sources[%d]: duplicate name %q", i, head.Name)
		}
		seen[head.Name] = true
	}
	for i, b := range c.Phonebooks {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("phonebooks[%d]: %w", i, err)
		}
	}
	accounts := map[string]bool{}
	for i, a := range c.Accounts {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("accounts[%d]: %w", i, err)
		}
		if seen[a.Name] || accounts[a.Name] {
			return fmt.Errorf("accounts[%d]: name %q is already a source or account", i, a.Name)
		}
		accounts[a.Name] = true
	}
	for _, u := range c.Web.Users {
		for _, a := range u.Accounts {
			if !accounts[a] {
				return fmt.Errorf("users %s: account %q is not in accounts", u.Name, a)
			}
		}
	}
	if len(c.Accounts) > 0 {
		sc := c.SIP
		sc.Accounts = c.Accounts
		if err := sc.Validate(); err != nil {
			return fmt.Errorf("sip: %w", err)
		}
		if err := c.Gateway.Validate(); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	return c.Web.Validate()
}
