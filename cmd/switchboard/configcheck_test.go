package main

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// goTypeName matches what a user must never see in a configuration
// error: Go's type names and yaml.v3's tags.
var goTypeName = regexp.MustCompile(`time\.Duration|u?int(8|16|32|64)?\b|float64|\[\]string|!!|\b(main|web|ami|esl|fritz|sipbridge|gateway|monitor)\.[A-Z]|struct|yaml: `)

const goodHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

// TestConfigErrorMessages: each mistake is told at its file, line and
// column, with its key path and in words, the closest valid key
// suggested, and no Go type names.
func TestConfigErrorMessages(t *testing.T) {
	t.Setenv("SB_TEST_SET", "x")
	tests := []struct {
		name, text string
		want       string // the whole error
	}{
		// Unknown keys: at the top, nested, in list items, and the keys
		// sources take inline from monitor.LinkConfig.
		{"top-level typo", "listne: 127.0.0.1:8080\n",
			"config t.yaml:1:1: listne: unknown key; did you mean `listen`?"},
		{"dashes for underscores", "log-level: debug\n",
			"config t.yaml:1:1: log-level: unknown key; did you mean `log_level`?"},
		{"camel case", "shutdownTimeout: 5s\n",
			"config t.yaml:1:1: shutdownTimeout: unknown key; did you mean `shutdown_timeout`?"},
		{"nested key", "sip:\n  listen: 127.0.0.1:5060\n  rtp_port_mn: 20000\n",
			"config t.yaml:3:3: sip.rtp_port_mn: unknown key; did you mean `rtp_port_min`?"},
		{"list item", "users:\n  - name: anna\n    password_hash: \"" + goodHash + "\"\n    role: admin\n  - name: bob\n    pasword_hash: x\n",
			"config t.yaml:6:5: users[1].pasword_hash: unknown key; did you mean `password_hash`?"},
		{"source key", "sources:\n  - name: home\n    type: fritz\n    adress: 192.168.178.1\n",
			"config t.yaml:4:5: sources[0].adress: unknown key; did you mean `address`?"},
		{"inline key of a source", "sources:\n  - name: home\n    type: fritz\n    address: 192.168.178.1\n    reconect_min: 1s\n",
			"config t.yaml:5:5: sources[0].reconect_min: unknown key; did you mean `reconnect_min`?"},
		{"inline key in flow style", "sources:\n  - {name: pbx, type: ami, address: h, username: u, secret: s, link_grase: 1s}\n",
			"config t.yaml:2:64: sources[0].link_grase: unknown key; did you mean `link_grace`?"},
		{"second source", "sources:\n  - {name: a, type: demo}\n  - name: b\n    type: esl\n    adress: h\n",
			"config t.yaml:5:5: sources[1].adress: unknown key; did you mean `address`?"},
		{"key of another source type", "sources:\n  - name: home\n    type: fritz\n    address: h\n    username: admin\n",
			"config t.yaml:5:5: sources[0].username: unknown key for type fritz (type ami takes it); the keys of type fritz are `name`, `type`, `address`, `reconnect_min`, `reconnect_max`, `dial_timeout`, `link_grace`, `health_interval`, `health_timeout`, `keepalive`, `location`, `internal_prefixes`"},
		{"key of another section", "rtp_port_min: 20000\n",
			"config t.yaml:1:1: rtp_port_min: unknown key here; it belongs under sip"},
		{"key moved into a section", "sip:\n  accounts: []\n",
			"config t.yaml:2:3: sip.accounts: unknown key here; it belongs at the top or in each entry of users"},
		{"webhook entry", "webhooks:\n  - url: http://127.0.0.1:9/\n    timout: 5s\n",
			"config t.yaml:3:5: webhooks[0].timout: unknown key; did you mean `timeout`?"},
		{"key given twice", "listen: 127.0.0.1:1\nlog_level: info\nlisten: 127.0.0.1:2\n",
			"config t.yaml:3:1: listen: given twice (first on line 1)"},

		// Source types.
		{"source type typo", "sources:\n  - name: pbx\n    type: amy\n",
			"config t.yaml:3:11: sources[0].type: unknown source type; did you mean `ami`? (want fritz, demo, ami, ami-replay, esl or esl-outbound)"},
		{"source type prefix", "sources:\n  - name: box\n    type: fritzbox\n",
			"config t.yaml:3:11: sources[0].type: unknown source type; did you mean `fritz`? (want fritz, demo, ami, ami-replay, esl or esl-outbound)"},
		{"source without type", "sources:\n  - name: box\n    address: h\n",
			"config t.yaml:2:5: sources[0].type: type is required: fritz, demo, ami, ami-replay, esl or esl-outbound"},
		{"source without name", "sources:\n  - type: demo\n",
			"config t.yaml:2:5: sources[0]: name is required"},
		{"source not a map", "sources:\n  - demo\n",
			"config t.yaml:2:5: sources[0]: want a source (name:, type: and its keys), not `demo`"},

		// Values of the wrong kind, in words.
		{"duration without unit", "session_ttl: 12\n",
			"config t.yaml:1:14: session_ttl: `12` is not a duration; write it with its unit, such as 30s, 5m or 1h30m"},
		{"duration in a source", "sources:\n  - name: box\n    type: fritz\n    address: h\n    health_interval: soon\n",
			"config t.yaml:5:22: sources[0].health_interval: `soon` is not a duration; write it with its unit, such as 30s, 5m or 1h30m"},
		{"bool", "sources:\n  - {name: pbx, type: ami, address: h, username: u, secret: s, tls: maybe}\n",
			"config t.yaml:2:69: sources[0].tls: `maybe` is not true or false"},
		{"unknown time zone", "timezone: Europe/Bonn\n",
			"config t.yaml:1:11: timezone: \"Europe/Bonn\": not a time zone; want an IANA name such as Europe/Berlin or America/New_York"},
		{"unknown country", "default_country: Germany\n",
			"config t.yaml:1:18: default_country: `Germany` is not a country code; want a two-letter ISO 3166 code such as DE, AT, CH, GB or US"},
		{"port out of range", "gateway:\n  udp_port_min: 70000\n",
			"config t.yaml:2:17: gateway.udp_port_min: `70000` is out of range: from 0 to 65535"},
		{"not a number", "sip:\n  rtp_port_min: lots\n",
			"config t.yaml:2:17: sip.rtp_port_min: `lots` is not a whole number"},
		{"not a float", "sources:\n  - {name: d, type: demo, speed: fast}\n",
			"config t.yaml:2:34: sources[0].speed: `fast` is not a number"},
		{"scalar for a list", "sources:\n  - name: box\n    type: fritz\n    address: h\n    internal_prefixes: \"**\"\n",
			"config t.yaml:5:24: sources[0].internal_prefixes: want a list (lines starting with - below it, or [a, b]), not `**`; for a list of one, write [**]"},
		{"scalar for a section", "sip: yes\n",
			"config t.yaml:1:6: sip: want keys with values (key: value, on lines indented below it), not `yes`"},
		{"map for a scalar", "listen:\n  host: 127.0.0.1\n",
			"config t.yaml:2:3: listen: want a single value, not keys with values"},
		{"list for a scalar", "data_dir: [a, b]\n",
			"config t.yaml:1:11: data_dir: want a single value, not a list"},
		{"list of scalars for a list of maps", "users:\n  - anna\n",
			"config t.yaml:2:5: users[0]: want keys with values (key: value, on lines indented below it), not `anna`"},
		{"top level a list", "- listen: x\n",
			"config t.yaml:1:1: want keys with values at the top (listen: …, sources: …), not a list"},

		// Environment variables are checked where they are used.
		{"unset variable", "listen: 127.0.0.1:8080\ntokens:\n  - name: wall\n    token: \"${SB_TEST_UNSET}\"\n",
			"config t.yaml:4:12: tokens[0].token: environment variable SB_TEST_UNSET is not set"},
		{"unset variables", "listen: ${SB_TEST_UNSET_A}:${SB_TEST_SET}${SB_TEST_UNSET_B}\n",
			"config t.yaml:1:9: listen: environment variables SB_TEST_UNSET_A, SB_TEST_UNSET_B are not set"},

		// Syntax errors, at their real lines.
		{"tab", "listen: x\n\tlog_level: info\n",
			"config t.yaml:2: a tab in the indentation: YAML is indented with spaces only"},
		{"colon in a value", "listen: x\nlog_level: info: debug\n",
			"config t.yaml:2: a `key: value` where none can be: is the line indented too far, or does a value hold `: ` and want quotes?"},
		{"indented too far", "listen: x\n  log_level: info\n",
			"config t.yaml:2: a `key: value` where none can be: is the line indented too far, or does a value hold `: ` and want quotes?"},
		{"list not closed", "listen: x\nallowed_origins: [a, b\nlog_level: info\n",
			"config t.yaml:2: a list opened with [ is still open here: close it with ]"},
		{"list item expected", "users:\n  - name: a\n  role: admin\n",
			"config t.yaml:3: a list item (- …) was expected: the items of a list are indented alike"},
		{"quote not closed", "listen: \"127.0.0.1:8080\nlog_level: info\n",
			"config t.yaml:1: a quoted value is not closed (the file ends inside it)"},
		{"unknown anchor", "listen: x\nlog_level: *level\n",
			"config t.yaml:2:12: *level refers to no anchor &level above it"},

		// Lines end as the file's editor ended them: YAML counts CR LF,
		// a lone CR (old Mac editors) and LF each as one line break.
		{"CR LF line ends", "listen: x\r\nlog_level: info\r\nlistne: y\r\n",
			"config t.yaml:3:1: listne: unknown key; did you mean `listen`?"},
		{"CR line ends", "listen: x\rlog_level: info\rlistne: y\r",
			"config t.yaml:3:1: listne: unknown key; did you mean `listen`?"},
		{"CR line ends, unknown anchor", "listen: x\rlog_level: *level\r",
			"config t.yaml:2:12: *level refers to no anchor &level above it"},
		{"CR line ends, tab", "listen: x\r\tlog_level: info\r",
			"config t.yaml:2: a tab in the indentation: YAML is indented with spaces only"},
		{"NEL line ends", "listen: x\u0085listne: y\u0085",
			"config t.yaml:2:1: listne: unknown key; did you mean `listen`?"},
		{"LS line ends, unknown anchor", "listen: x\u2028log_level: *level\u2028",
			"config t.yaml:2:12: *level refers to no anchor &level above it"},
		{"mixed line ends, tab", "listen: x\r\nsip:\r  listen: y\n\tlog_level: info\r\n",
			"config t.yaml:4: a tab in the indentation: YAML is indented with spaces only"},
		{"two documents", "listen: x\n---\nlisten: y\n",
			"config t.yaml:2:1: a second YAML document (after ---): one file holds one configuration"},

		// What the packages' Validate rejects, placed at its key.
		{"source validation", "sources:\n  - {name: fs, type: esl, address: \"h:99999\"}\n",
			"config t.yaml:2:36: sources[0].address: \"h:99999\": want host or host:port"},
		{"source validation without the key", "sources:\n  - name: pbx\n    type: ami\n    address: h\n",
			"config t.yaml:2:5: sources[0]: username is required"},
		{"log level", "log_level: loud\n",
			"config t.yaml:1:12: log_level: `loud`: want debug, info, warn or error"},
		{"shutdown timeout", "shutdown_timeout: 5ms\n",
			"config t.yaml:1:19: shutdown_timeout: 5ms is too short: at least 100ms"},
		{"account of a user", "users:\n  - name: anna\n    password_hash: \"" + goodHash + "\"\n    role: admin\n    accounts: [desk]\n",
			"config t.yaml:5:16: users[0].accounts[0]: `desk` is not one of the accounts (the top-level accounts: list)"},
		{"blf of no account", "accounts:\n  - {name: desk, registrar: 127.0.0.1, username: u, password: p}\nblf:\n  - {target: \"201\", account: desc}\n",
			"config t.yaml:4:30: blf[0].account: `desc` is not one of the accounts (the top-level accounts: list)"},
		{"blf without account", "accounts:\n  - {name: desk, registrar: 127.0.0.1, username: u, password: p}\nblf:\n  - target: \"201\"\n",
			"config t.yaml:4:5: blf[0].account: account missing: the account whose SUBSCRIBE watches this lamp"},
		{"blf expires", "accounts:\n  - {name: desk, registrar: 127.0.0.1, username: u, password: p, blf_expires: 10, blf: [{target: \"201\"}]}\n",
			"config t.yaml:2:79: accounts[0].blf_expires: account desk: blf_expires 10 (want at least 60 seconds)"},
		{"blf twice", "accounts:\n  - {name: desk, registrar: 127.0.0.1, username: u, password: p, blf: [{target: \"201\"}]}\nblf:\n  - {target: \"sip:201@127.0.0.1\", account: desk}\n",
			"config t.yaml:2:66: accounts[0].blf: account desk: blf 2 watches 201@127.0.0.1 as blf 1 already does"},
		{"sip validation", "accounts:\n  - {name: desk, registrar: 127.0.0.1, username: u, password: p}\nsip:\n  retry_min: 2s\n  retry_max: 1s\n",
			"config t.yaml:5:14: sip.retry_max: 1s below retry_min 2s"},
		{"trusted source with a port", "accounts:\n  - {name: desk, registrar: 127.0.0.1, username: u, password: p}\nsip:\n  trusted_sip_sources: [10.0.0.1:5060]\n",
			"config t.yaml:4:3: sip.trusted_sip_sources: entry \"10.0.0.1:5060\": give the address without a port (requests are matched by address)"},
		{"ringing cap", "accounts:\n  - {name: desk, registrar: 127.0.0.1, username: u, password: p, max_ringing_calls: -2}\n",
			"config t.yaml:2:85: accounts[0].max_ringing_calls: account desk: max_ringing_calls -2 (want 1 to 1000)"},
		{"call cap", "accounts:\n  - {name: desk, registrar: 127.0.0.1, username: u, password: p}\ngateway:\n  max_calls_per_user: -1\n",
			"config t.yaml:4:23: gateway.max_calls_per_user: -1: want 1 to 100000 (0 for the default)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.text), "t.yaml")
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.text)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n  %s\nwant\n  %s", got, tt.want)
			}
			if m := goTypeName.FindString(err.Error()); m != "" {
				t.Errorf("error names %q: %v", m, err)
			}
			if !errors.Is(err, errInvalidConfig) {
				t.Errorf("error is not errInvalidConfig: %v", err)
			}
		})
	}
}

// TestConfigWebValidation: the web section's Validate is placed at the
// key it names (its wording is the web package's).
func TestConfigWebValidation(t *testing.T) {
	tests := []struct{ name, text, where string }{
		{"role", "users:\n  - name: anna\n    password_hash: \"" + goodHash + "\"\n    role: boss\n", "t.yaml:4:11: users[0].role: "},
		{"hash", "users:\n  - name: anna\n    password_hash: nope\n", "t.yaml:3:20: users[0].password_hash: "},
		{"listen", "listen: nowhere\n", "t.yaml:1:9: listen: "},
		{"token", "tokens:\n  - {name: wall, token: short}\n", "t.yaml:2:25: tokens[0].token: "},
		{"own phone", "users:\n  - name: olga\n    password_hash: \"" + goodHash + "\"\n    role: operator\n    extension: \"20 1\"\n", "t.yaml:5:16: users[0].extension: "},
		{"panel threshold", "panel:\n  sl_warn: 120\n", "t.yaml:2:12: panel.sl_warn: "},
		{"panel group", "panel:\n  groups:\n    - name: A\n", "t.yaml:3:13: panel.groups[0].name: no extensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.text), "t.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), "config "+tt.where) {
				t.Fatalf("err = %v, want it to start with config %s", err, tt.where)
			}
		})
	}
}

// TestConfigAllProblems: every problem of the file is told, in the
// order of the file.
func TestConfigAllProblems(t *testing.T) {
	text := "listne: x\nsources:\n  - name: box\n    type: fritz\n    adress: h\nsession_ttl: 12\n"
	_, err := parseConfig([]byte(text), "t.yaml")
	want := "config t.yaml has 3 problems:\n" +
		"  t.yaml:1:1: listne: unknown key; did you mean `listen`?\n" +
		"  t.yaml:5:5: sources[0].adress: unknown key; did you mean `address`?\n" +
		"  t.yaml:6:14: session_ttl: `12` is not a duration; write it with its unit, such as 30s, 5m or 1h30m"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
}

// TestConfigAccepted: what YAML allows besides the plain form is read
// as the user meant it.
func TestConfigAccepted(t *testing.T) {
	text := `# comments, anchors and merge keys
listen: "127.0.0.1:8080"
sources:
  - &box
    name: a
    type: fritz
    address: 192.168.178.1
    link_grace: 2m
  - <<: *box
    name: b
    address: 192.168.178.2
users:
  - {name: anna, password_hash: "` + goodHash + `", role: admin}
session_ttl: ~
`
	c, err := parseConfig([]byte(text), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) != 2 || c.Web.Listen != "127.0.0.1:8080" || len(c.warnings) != 0 {
		t.Fatalf("config %+v", c)
	}
	src, err := buildSource(&c.Sources[1], newTestHub(t), monitor.NewSequence(""), newLogger(0))
	if err != nil || src.Name() != "b" {
		t.Fatalf("merged source: %v, %v", src, err)
	}
}

// TestConfigNobodyCanSignIn: a configuration without users works, and
// says that nobody can sign in.
func TestConfigNobodyCanSignIn(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"empty", "", "the configuration is empty: no source is watched and nobody can sign in"},
		{"only comments", "# nothing yet\n", "the configuration is empty: no source is watched and nobody can sign in"},
		{"no users", "sources:\n  - {name: d, type: demo}\n", "the configuration has no users: nobody can sign in (add users: with a password hash from `switchboard passwd`)"},
		{"only tokens", "tokens:\n  - {name: wall, token: 0123456789abcdef}\n", "the configuration has no users: nobody can sign in, only the tokens can read"},
		{"a user", "users:\n  - {name: anna, password_hash: \"" + goodHash + "\", role: admin}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig([]byte(tt.text), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(c.warnings, "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Fatalf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	keys := []string{"listen", "log_level", "address", "reconnect_min", "reconnect_max", "fritz", "ami", "esl"}
	tests := map[string]string{
		"adress":        "address",
		"addresss":      "address",
		"adderss":       "address",
		"Address":       "address",
		"logLevel":      "log_level",
		"reconnect-min": "reconnect_min",
		"reconect_max":  "reconnect_max",
		"fritzbox":      "fritz",
		"amy":           "ami",
		"els":           "esl",
		"colour":        "",
		"x":             "",
		"listen":        "", // the word itself is no suggestion
	}
	for word, want := range tests {
		if got := closest(word, keys); got != want {
			t.Errorf("closest(%q) = %q, want %q", word, got, want)
		}
	}
}

// TestConfigBLF: the top-level blf: list joins each account's own, in
// order after it.
func TestConfigBLF(t *testing.T) {
	text := `accounts:
  - name: desk
    registrar: 127.0.0.1
    username: "1000"
    password: p
    blf_expires: 300
    blf:
      - {target: "201", name: Anna, group: Sales}
  - {name: home, registrar: 127.0.0.1, username: "1001", password: p}
blf:
  - {target: "sip:202@pbx.example", name: Ben, account: desk}
  - {target: "203", account: home}
`
	c, err := parseConfig([]byte(text), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	desk, home := c.Accounts[0], c.Accounts[1]
	if desk.BLFExpires != 300 || len(desk.BLF) != 2 || desk.BLF[0].Name != "Anna" || desk.BLF[0].Group != "Sales" ||
		desk.BLF[1].Target != "sip:202@pbx.example" || desk.BLF[1].Name != "Ben" {
		t.Fatalf("desk %+v", desk)
	}
	if len(home.BLF) != 1 || home.BLF[0].Target != "203" || len(c.BLF) != 0 {
		t.Fatalf("home %+v, left %+v", home, c.BLF)
	}
}
