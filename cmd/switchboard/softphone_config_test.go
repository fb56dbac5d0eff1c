package main

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// viewerTokenYAML gives the softphone tests' wallboards a viewer token.
const viewerTokenYAML = "tokens:\n  - name: wall\n    token: " + e2eToken + "\n    role: viewer\n"

// softphoneNode is the configuration the softphone tests share: user
// paula (password pw-paula) may use the account office, which registers
// at Registrar as User with kamailio's test password; the node has its
// own SIP socket and 20 RTP ports from RTP.
type softphoneNode struct {
	Registrar string
	User      string // the account's SIP user; "1001" when empty
	RTP       int    // the first of 20 free ports (siptest.FreePorts(t, 20))
	SIPListen string // "127.0.0.1:0" when empty
	Account   string // more keys of the office account, each a line "key: value"
	Gateway   string // more keys of the gateway section, each a line "key: value"
	More      string // more top-level configuration: listen, data_dir, sources, tokens, …
}

// yaml is the node's whole configuration.
func (n softphoneNode) yaml(t *testing.T) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-paula"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	user, listen := n.User, n.SIPListen
	if user == "" {
		user = "1001"
	}
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	account, gateway := "", ""
	if n.Account != "" {
		account = "    " + strings.ReplaceAll(n.Account, "\n", "\n    ") + "\n"
	}
	if n.Gateway != "" {
		gateway = "  " + strings.ReplaceAll(n.Gateway, "\n", "\n  ") + "\n"
	}
	return n.More + fmt.Sprintf(`users:
  - name: paula
    password_hash: %q
    role: user
    accounts: [office]
sip:
  listen: %s
  rtp_port_min: %d
  rtp_port_max: %d
accounts:
  - name: office
    registrar: %s
    username: %q
    password: %s
    expires: 60
%sgateway:
  include_loopback: true
%s`, hash, listen, n.RTP, n.RTP+19, n.Registrar, user, siptest.Password(user), account, gateway)
}
