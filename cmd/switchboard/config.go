package main

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/monitor/phonebook"
	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/web/webhook"
)

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
	// DefaultCountry is the country (ISO 3166, such as DE) whose national
	// numbers (0170 1234567) the history reads as E.164, so that a search
	// finds a number however it was written. Default none: only numbers
	// written internationally (+49…, 0049…) are compared so.
	DefaultCountry string `yaml:"default_country"`
	// History is the database of the call history and the sign-ins:
	// SQLite in data_dir (the default) or a PostgreSQL several nodes
	// share.
	History history.Config `yaml:"history"`
	// Cluster joins this node to others through NATS JetStream; without
	// it the node is alone, as it always was (an in-process hub).
	Cluster cluster.Config `yaml:"cluster"`
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
	// BLF are busy lamps watched through the account each names; they
	// join that account's own blf: list.
	BLF []sipbridge.BLFTarget `yaml:"blf"`
	// Gateway is the browser side of the softphone (WebRTC).
	Gateway gateway.Config `yaml:"gateway"`
	// Phonebooks name the numbers sources report without a name; national
	// numbers in them are read in DefaultCountry.
	Phonebooks []phonebook.Config `yaml:"phonebooks"`

	// clustered is set when the configuration has a cluster: section.
	clustered bool
	// warnings are what works but is likely not meant (nobody can sign
	// in); serve logs them.
	warnings []string
	// path is the file it was read from; empty for the built-in default.
	path string
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

// parseConfig decodes the configuration text raw, read from path. Every
// problem it finds is in the *configError it returns, each with its line
// and column, its key path and in words: syntax errors, unknown keys
// (with the closest valid one), values of the wrong kind, unset
// environment variables, and what each section's Validate rejects.
func parseConfig(raw []byte, path string) (*config, error) {
	raw = normalizeBreaks(raw)
	file := displayPath(path)
	fail := func(ps ...configProblem) error { return &configError{file: file, problems: ps} }
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, fail(syntaxProblem(err, raw))
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fail(configProblem{line: next.Line, col: next.Column, msg: "a second YAML document (after ---): one file holds one configuration"})
	} else if !errors.Is(err, io.EOF) {
		return nil, fail(syntaxProblem(err, raw))
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	empty := doc.Kind == 0 || isNull(doc)
	var c config
	if !empty {
		k := &checker{}
		k.expandEnv(doc, "", os.LookupEnv)
		if doc.Kind != yaml.MappingNode {
			k.add(doc, "", "want keys with values at the top (listen: …, sources: …), not %s", describe(doc))
			return nil, fail(k.problems...)
		}
		k.check(doc, reflect.TypeFor[config](), "")
		_, sources := lookupKey(doc, "sources")
		k.checkSources(sources)
		if len(k.problems) > 0 {
			return nil, fail(k.problems...)
		}
		if err := doc.Decode(&c); err != nil {
			return nil, fail(decodeProblems(err, "")...)
		}
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
	if ps := c.validate(doc); len(ps) > 0 {
		return nil, fail(ps...)
	}
	switch {
	case empty:
		c.warnings = append(c.warnings, "the configuration is empty: no source is watched and nobody can sign in (add users: with a password hash from `switchboard passwd`)")
	case c.Web.Auth.OIDC != nil || c.Web.Auth.ProxyHeader != nil:
		// People sign in by the company's identity.
	case len(c.Web.Users) == 0 && len(c.Web.Tokens) == 0:
		c.warnings = append(c.warnings, "the configuration has no users: nobody can sign in (add users: with a password hash from `switchboard passwd`)")
	case len(c.Web.Users) == 0:
		c.warnings = append(c.warnings, "the configuration has no users: nobody can sign in, only the tokens can read (add users: with a password hash from `switchboard passwd`)")
	}
	c.path = path
	return &c, nil
}

func displayPath(p string) string {
	if p == "" {
		return "(built-in default)"
	}
	return p
}

// decodeNode decodes one YAML node strictly: a key v does not know is an
// error. (yaml.v3's Node.Decode has no KnownFields; the checker parseConfig
// uses knows the same rules, and the node is decoded as it is, so that
// aliases of anchors elsewhere in the file still resolve.)
func decodeNode(n *yaml.Node, v any) error {
	k := &checker{}
	k.check(n, reflect.TypeOf(v), "")
	if len(k.problems) > 0 {
		p := k.problems[0]
		return fmt.Errorf("%s: %s", cmp.Or(p.path, "value"), p.msg)
	}
	return n.Decode(v)
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

// validate checks what the keys alone do not: each section with its
// package's Validate, the names that must match across sections. doc is
// the YAML tree the configuration came from, to place the problems.
func (c *config) validate(doc *yaml.Node) []configProblem {
	var ps []configProblem
	at := func(name string) (key, val *yaml.Node) { return lookupKey(doc, name) }
	if _, err := c.logLevel(); err != nil {
		_, v := at("log_level")
		ps = append(ps, configProblem{line: line(v), col: col(v), path: "log_level", msg: fmt.Sprintf("`%s`: want debug, info, warn or error", c.LogLevel)})
	}
	if c.ShutdownTimeout < minShutdownTimeout {
		_, v := at("shutdown_timeout")
		ps = append(ps, configProblem{line: line(v), col: col(v), path: "shutdown_timeout", msg: fmt.Sprintf("%s is too short: at least %s", c.ShutdownTimeout, minShutdownTimeout)})
	}
	if err := history.CheckCountry(c.DefaultCountry); err != nil {
		_, v := at("default_country")
		ps = append(ps, configProblem{line: line(v), col: col(v), path: "default_country",
			msg: fmt.Sprintf("`%s` is not a country code; want a two-letter ISO 3166 code such as DE, AT, CH, GB or US", c.DefaultCountry)})
	}
	if key, n := at("cluster"); key != nil && n != nil && !isNull(n) {
		c.clustered = true
		if err := c.Cluster.Validate(); err != nil {
			ps = append(ps, validationProblem(n, "cluster", err, cluster.ErrBadConfig.Error()))
		}
	}
	if err := c.History.Validate(); err != nil {
		_, n := at("history")
		ps = append(ps, validationProblem(n, "history", err, history.ErrBadConfig.Error()))
	}
	sources := map[string]bool{}
	for i := range c.Sources {
		var head sourceHead
		if err := c.Sources[i].Decode(&head); err == nil {
			sources[head.Name] = true
		}
	}
	_, booksNode := at("phonebooks")
	for i, b := range c.Phonebooks {
		if err := b.Validate(); err != nil {
			ps = append(ps, validationProblem(seqItem(booksNode, i), itemPath("phonebooks", i), err, phonebook.ErrInvalidConfig.Error()))
		}
	}
	ps = append(ps, c.mergeBLF(doc)...)
	_, accountsNode := at("accounts")
	accounts := map[string]bool{}
	for i, a := range c.Accounts {
		path := itemPath("accounts", i)
		item := seqItem(accountsNode, i)
		if err := a.Validate(); err != nil {
			ps = append(ps, validationProblem(item, path, err, sipbridge.ErrConfig.Error(), "account "+strconv.Quote(a.Name)))
			continue
		}
		if sources[a.Name] || accounts[a.Name] {
			_, n := lookupKey(item, "name")
			ps = append(ps, configProblem{line: line(n), col: col(n), path: keyPath(path, "name"), msg: fmt.Sprintf("`%s` is already the name of a source or account", a.Name)})
		}
		accounts[a.Name] = true
	}
	_, usersNode := at("users")
	for i, u := range c.Web.Users {
		_, list := lookupKey(seqItem(usersNode, i), "accounts")
		for j, a := range u.Accounts {
			if !accounts[a] {
				n := seqItem(list, j)
				ps = append(ps, configProblem{line: line(n), col: col(n), path: itemPath(keyPath(itemPath("users", i), "accounts"), j),
					msg: fmt.Sprintf("`%s` is not one of the accounts (the top-level accounts: list)", a)})
			}
		}
	}
	if len(c.Accounts) > 0 {
		// The accounts were checked one by one above, each at its place.
		sc := c.SIP
		sc.Accounts = nil
		if err := sc.Validate(); err != nil {
			_, n := at("sip")
			ps = append(ps, validationProblem(n, "sip", err, sipbridge.ErrConfig.Error(), "sip"))
		}
		if err := c.Gateway.Validate(); err != nil {
			_, n := at("gateway")
			ps = append(ps, validationProblem(n, "gateway", err, gateway.ErrBadConfig.Error()))
		}
	}
	if err := c.Web.Validate(); err != nil {
		ps = append(ps, validationProblem(doc, "", err, web.ErrInvalidConfig.Error()))
	}
	return ps
}

// mergeBLF moves each entry of the top-level blf: list into the account
// it names, after that account's own entries; an entry naming no account
// is a problem.
func (c *config) mergeBLF(doc *yaml.Node) []configProblem {
	var ps []configProblem
	_, list := lookupKey(doc, "blf")
	for i, b := range c.BLF {
		j := slices.IndexFunc(c.Accounts, func(a sipbridge.AccountConfig) bool { return a.Name == b.Account })
		if j >= 0 {
			c.Accounts[j].BLF = append(c.Accounts[j].BLF, b)
			continue
		}
		item := seqItem(list, i)
		path := itemPath("blf", i)
		n := item
		if _, v := lookupKey(item, "account"); v != nil {
			n = v
		}
		msg := fmt.Sprintf("`%s` is not one of the accounts (the top-level accounts: list)", b.Account)
		if b.Account == "" {
			msg = "account missing: the account whose SUBSCRIBE watches this lamp"
		}
		ps = append(ps, configProblem{line: line(n), col: col(n), path: keyPath(path, "account"), msg: msg})
	}
	c.BLF = nil
	return ps
}

// seqItem returns item i of sequence n, or nil.
func seqItem(n *yaml.Node, i int) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return resolve(n.Content[i])
}

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func col(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Column
}
