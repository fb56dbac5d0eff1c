package main

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/history"
)

// issueConfig is the configuration the product promises works as written.
const issueConfig = `listen: 127.0.0.1:8080
data_dir: ./data            # history database lives here
sources:
  - name: home
    type: fritz
    address: 192.168.178.1:1012
users:
  - name: anna
    password_hash: "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
    role: admin
tokens:
  - name: hall-wallboard
    token: "${WALLBOARD_TOKEN}"
    role: viewer
`

func TestParseConfig(t *testing.T) {
	t.Setenv("WALLBOARD_TOKEN", "s3cret-wallboard-token")
	c, err := parseConfig([]byte(issueConfig), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Web.Listen != "127.0.0.1:8080" || c.DataDir != "data" || len(c.Sources) != 1 {
		t.Fatalf("config = %+v", c)
	}
	if got := c.Web.Tokens[0].Token; got != "s3cret-wallboard-token" {
		t.Fatalf("token = %q", got)
	}
	if !strings.HasPrefix(c.Web.Users[0].PasswordHash, "$2a$10$") {
		t.Fatalf("bcrypt hash was mangled: %q", c.Web.Users[0].PasswordHash)
	}
	if c.ShutdownTimeout != defaultShutdownTimeout {
		t.Errorf("shutdown_timeout default = %s, want %s", c.ShutdownTimeout, defaultShutdownTimeout)
	}
	c, err = parseConfig([]byte(issueConfig+`trusted_proxies: [10.0.0.0/8, "::1"]
public_url: https://switchboard.example.com
web_limits:
  max_connections: 500
  max_connections_per_address: 50
  max_sockets: 300
  max_events_per_user: 4
  max_events_per_token: 40
  max_phone_per_user: 2
  header_timeout: 5s
  body_timeout: 5s
  login_concurrency: 2
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Web.Limits; c.Web.PublicURL != "https://switchboard.example.com" || len(c.Web.TrustedProxies) != 2 ||
		l.MaxConnections != 500 || l.MaxPhonePerUser != 2 || l.BodyTimeout != 5*time.Second || l.LoginConcurrency != 2 {
		t.Errorf("web keys: %+v", c.Web)
	}
	c, err = parseConfig([]byte(issueConfig+"shutdown_timeout: 1m30s\n"), "test.yaml")
	if err != nil || c.ShutdownTimeout != 90*time.Second {
		t.Errorf("shutdown_timeout: 1m30s = %v (%v)", c.ShutdownTimeout, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unset env", strings.Replace(issueConfig, "WALLBOARD_TOKEN", "NOPE_NOT_SET", 1), "NOPE_NOT_SET"},
		{"unknown key", issueConfig + "colour: red\n", "colour"},
		{"duplicate source", strings.Replace(issueConfig, "users:", "  - name: home\n    type: fritz\nusers:", 1), "test.yaml:7:11: sources[1].name: `home` is the name of another source too (line 4)"},
		{"bad log level", issueConfig + "log_level: loud\n", "log_level"},
		{"shutdown timeout without unit", issueConfig + "shutdown_timeout: 10\n", "test.yaml:15:19: shutdown_timeout: `10` is not a duration"},
		{"shutdown timeout too short", issueConfig + "shutdown_timeout: 5ms\n", "shutdown_timeout"},
		{"negative shutdown timeout", issueConfig + "shutdown_timeout: -1s\n", "shutdown_timeout"},
		{"bad trusted proxy", issueConfig + "trusted_proxies: [office]\n", "trusted_proxies"},
		{"public_url with a path", issueConfig + "public_url: https://sb.example.com/x\n", "public_url"},
		{"negative cap", issueConfig + "web_limits:\n  max_phone_per_user: -1\n", "max_phone_per_user"},
		{"unknown limit", issueConfig + "web_limits:\n  max_phones: 3\n", "max_phones"},
		{"unknown history driver", issueConfig + "history:\n  driver: mysql\n", "test.yaml:16:11: history.driver: \"mysql\": want sqlite or postgres"},
		{"postgres without dsn", issueConfig + "history:\n  driver: postgres\n", "history.driver: postgres needs a dsn"},
		{"dsn for sqlite", issueConfig + "history:\n  dsn: postgres://db/x\n", "test.yaml:16:8: history.dsn: set without driver postgres"},
		{"unset dsn variable", issueConfig + "history:\n  driver: postgres\n  dsn: \"${SB_TEST_NO_PG_DSN}\"\n", "SB_TEST_NO_PG_DSN"},
		{"cluster without nats", issueConfig + "cluster:\n  node: a\n", "test.yaml:16:3: cluster: nats: url is required"},
		{"cluster with an http url", issueConfig + "cluster:\n  node: a\n  nats:\n    url: http://127.0.0.1:4222\n", "test.yaml:18:10: cluster.nats.url: \"http://127.0.0.1:4222\": want the scheme nats:// or tls://"},
		{"cluster without node", issueConfig + "cluster:\n  nats:\n    url: nats://127.0.0.1:4222\n", "test.yaml:16:3: cluster: node is required"},
		{"cluster node with a dot", issueConfig + "cluster:\n  node: a.b\n  nats:\n    url: nats://127.0.0.1:4222\n", "test.yaml:16:9: cluster.node: \"a.b\": only letters, digits, - and _"},
		{"cluster lease too short", issueConfig + "cluster:\n  node: a\n  lease_ttl: 100ms\n  nats:\n    url: nats://127.0.0.1:4222\n", "test.yaml:17:14: cluster.lease_ttl: 100ms is too short"},
		{"cluster unknown key", issueConfig + "cluster:\n  node: a\n  nats:\n    uri: nats://127.0.0.1:4222\n", "cluster.nats.uri"},
	}
	t.Setenv("WALLBOARD_TOKEN", "0123456789abcdef")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.text), "test.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestParseConfigRejectsUnknownSourceKeys(t *testing.T) {
	_, err := parseConfig([]byte("sources:\n  - name: x\n    type: fritz\n    adress: 127.0.0.1\n"), "t.yaml")
	want := "config t.yaml:4:5: sources[0].adress: unknown key; did you mean `address`?"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestExpandString(t *testing.T) {
	env := map[string]string{"A": "1", "B_2": "two"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	out, missing := expandString("x: ${A} $A $$ ${B_2} $2a$10$", lookup)
	if len(missing) != 0 || out != "x: 1 $A $$ two $2a$10$" {
		t.Fatalf("out = %q, missing %v", out, missing)
	}
	if _, missing := expandString("${C} ${A} ${D}", lookup); strings.Join(missing, ",") != "C,D" {
		t.Fatalf("missing = %v", missing)
	}
}

// TestExpandEnvInValues: variables are values, whatever they hold; a
// plain one is read again as if written so, a quoted one stays text;
// comments and keys are left alone.
func TestExpandEnvInValues(t *testing.T) {
	t.Setenv("SB_TEST_LISTEN", "127.0.0.1:9090 # not a comment")
	t.Setenv("SB_TEST_MIN", "5000")
	text := "# ${SB_TEST_NOT_SET} in a comment is fine\nlisten: ${SB_TEST_LISTEN}\nsip:\n  rtp_port_min: ${SB_TEST_MIN}\n  user_agent: \"${SB_TEST_MIN}\"\n"
	c, err := parseConfig([]byte(text), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Web.Listen != "127.0.0.1:9090 # not a comment" || c.SIP.RTPPortMin != 5000 || c.SIP.UserAgent != "5000" {
		t.Fatalf("listen %q, rtp_port_min %d, user_agent %q", c.Web.Listen, c.SIP.RTPPortMin, c.SIP.UserAgent)
	}
}

// TestHistoryConfig: history.driver postgres takes its dsn from the
// environment; without the section the history is SQLite.
func TestHistoryConfig(t *testing.T) {
	t.Setenv("WALLBOARD_TOKEN", "0123456789abcdef")
	t.Setenv("SB_TEST_PG_DSN", "postgres://switchboard:secret@127.0.0.1/switchboard")
	c, err := parseConfig([]byte(issueConfig+"history:\n  driver: postgres\n  dsn: \"${SB_TEST_PG_DSN}\"\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.History.Driver != history.Postgres || c.History.DSN != "postgres://switchboard:secret@127.0.0.1/switchboard" {
		t.Fatalf("history %+v", c.History)
	}
	c, err = parseConfig([]byte(issueConfig), "test.yaml")
	if err != nil || c.History.Driver != "" {
		t.Fatalf("history without the section: %+v %v", c.History, err)
	}
}

// TestClusterConfig: the cluster section is read with its defaults;
// without it the node is alone.
func TestClusterConfig(t *testing.T) {
	t.Setenv("WALLBOARD_TOKEN", "0123456789abcdef")
	t.Setenv("SB_TEST_NATS", "nats://127.0.0.1:4222")
	c, err := parseConfig([]byte(issueConfig+"cluster:\n  node: node-1\n  nats:\n    url: \"${SB_TEST_NATS}\"\n    creds_file: /etc/switchboard/nats.creds\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.clustered || c.Cluster.Node != "node-1" || c.Cluster.NATS.URL != "nats://127.0.0.1:4222" ||
		c.Cluster.NATS.CredsFile != "/etc/switchboard/nats.creds" || c.Cluster.TTL() != cluster.DefaultLeaseTTL {
		t.Fatalf("cluster %+v (clustered %v)", c.Cluster, c.clustered)
	}
	c, err = parseConfig([]byte(issueConfig), "test.yaml")
	if err != nil || c.clustered {
		t.Fatalf("without the section: clustered %v, %v", c.clustered, err)
	}
}

func TestDemoConfig(t *testing.T) {
	t.Setenv("SWITCHBOARD_DEMO_PASSWORD", "pw")
	c, pass, err := demoConfig()
	if err != nil || pass != "pw" || len(c.Sources) != 1 || c.Web.Users[0].Name != "admin" {
		t.Fatalf("demo = %+v %q %v", c, pass, err)
	}
}

func TestHashPassword(t *testing.T) {
	h, err := hashPassword("hunter2", 4)
	if err != nil || !strings.HasPrefix(h, "$2a$04$") {
		t.Fatalf("hash = %q, err = %v", h, err)
	}
	if _, err := hashPassword(strings.Repeat("x", 73), 4); err == nil || !strings.Contains(err.Error(), "at most 72") {
		t.Fatalf("73 bytes: err = %v", err)
	}
}

// TestBuildEverySourceType builds one source of each type from YAML as a
// user would write it.
func TestBuildEverySourceType(t *testing.T) {
	text := `sources:
  - {name: box, type: fritz, address: 127.0.0.1, link_grace: 2m}
  - {name: pbx, type: ami, address: 127.0.0.1, username: admin, secret: pw, reconnect_min: 2s, reconnect_max: 30s, dial_timeout: 5s, link_grace: 30s}
  - name: fs
    type: esl
    address: 127.0.0.1
    password: pw
    link_grace: 90s
    filters: ["Caller-Context default"]
    nixevents: [CHANNEL_CALLSTATE]
    heartbeat_timeout: 45s
  - {name: fs-out, type: esl-outbound, listen: "127.0.0.1:0", context: office}
`
	c, err := parseConfig([]byte(text), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Sources {
		src, err := buildSource(&c.Sources[i], newTestHub(t), monitor.NewSequence(""), newLogger(0))
		if err != nil {
			t.Fatalf("source %d: %v", i, err)
		}
		if src.Name() == "" {
			t.Errorf("source %d has no name", i)
		}
	}
}

// TestSharedSourceKeys: the keys every source shares are checked the
// same way for each type, and unknown keys beside them still fail, when
// the configuration is read.
func TestSharedSourceKeys(t *testing.T) {
	tests := []struct {
		name, entry, want string
	}{
		{"fritz max below min", "{name: x, type: fritz, address: 127.0.0.1, reconnect_min: 1m, reconnect_max: 1s}", "reconnect_max"},
		{"ami negative grace", "{name: x, type: ami, address: 127.0.0.1, username: u, secret: s, link_grace: -1s}", "link_grace"},
		{"ami secret both ways", "{name: x, type: ami, address: 127.0.0.1, username: u, secret: s, secret_file: /f}", "secret_file"},
		{"esl password both ways", "{name: x, type: esl, address: 127.0.0.1, password: p, password_file: /f}", "password_file"},
		{"esl bad port", "{name: x, type: esl, address: '127.0.0.1:99999'}", "address"},
		{"ami typo", "{name: x, type: ami, address: 127.0.0.1, username: u, secret: s, link_grase: 1s}", "link_grase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte("sources:\n  - "+tt.entry+"\n"), "t.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestParseConfigEmbedding reads the keys of portal embedding and single
// sign-on as the README shows them, and refuses embedding without HTTPS
// and a misspelt key in words.
func TestParseConfigEmbedding(t *testing.T) {
	t.Setenv("WALLBOARD_TOKEN", "s3cret-wallboard-token")
	sso := issueConfig + `tls_cert: /etc/switchboard/cert.pem
tls_key: /etc/switchboard/key.pem
embed_origins: [https://portal.example.com, "https://*.intranet.example.com"]
auth:
  oidc:
    issuer: https://id.example.com/realms/staff
    client_id: switchboard
    client_secret_file: /etc/switchboard/oidc-secret
    scopes: [profile, groups]
    roles_claim: groups
    role_map: {pbx-admins: admin, agents: user, staff: viewer}
    user_claim: preferred_username
    accounts_claim: sip_accounts
  proxy_header:
    header: X-Remote-User
    groups_header: X-Remote-Groups
    trusted_proxies: [10.0.0.5]
    role_map: {staff: viewer}
`
	c, err := parseConfig([]byte(sso), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := c.Web.Auth.OIDC
	if o == nil || o.ClientID != "switchboard" || o.RoleMap["pbx-admins"] != "admin" || o.AccountsClaim != "sip_accounts" ||
		len(c.Web.EmbedOrigins) != 2 || c.Web.Auth.ProxyHeader == nil || c.Web.Auth.ProxyHeader.TrustedProxies[0] != "10.0.0.5" {
		t.Errorf("auth: %+v, embed_origins %v", o, c.Web.EmbedOrigins)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"misspelt", strings.Replace(sso, "issuer:", "isuer:", 1), "isuer"},
		{"embedding without HTTPS", strings.Replace(strings.Replace(sso, "tls_cert: /etc/switchboard/cert.pem\n", "", 1), "tls_key: /etc/switchboard/key.pem\n", "", 1), "needs HTTPS"},
		{"bad role", strings.Replace(sso, "agents: user", "agents: boss", 1), `role "boss"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.text), "test.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// Single sign-on alone signs people in: no warning about users.
	noUsers := strings.Replace(sso, "users:\n  - name: anna\n    password_hash: \"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy\"\n    role: admin\n", "", 1)
	c, err = parseConfig([]byte(noUsers), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.warnings) != 0 {
		t.Errorf("warnings with single sign-on and no users: %q", c.warnings)
	}
}
