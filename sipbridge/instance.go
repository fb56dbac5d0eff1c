package sipbridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// ErrBadInstanceID is an instance id that is not a UUID.
var ErrBadInstanceID = errors.New("sip instance id: want a UUID (urn:uuid:… or bare)")

// instanceNamespace is the UUIDv5 namespace node names are hashed in
// (RFC 9562 section 5.5): a fixed, arbitrary UUID of this project, so
// that one node name gives the same instance id on every build.
var instanceNamespace = uuid.MustParse("6b1f0c3e-5a0e-4a8e-9d3c-2f7b9e4c1a57")

// NodeInstanceID is the RFC 5626 instance id of the cluster node named
// node: a UUIDv5 of the name, so it stays the same across the node's
// restarts and differs between nodes.
func NodeInstanceID(node string) string {
	return uuid.NewSHA1(instanceNamespace, []byte("switchboard-node:"+node)).String()
}

// ParseInstanceID accepts "urn:uuid:…" or a bare UUID and returns the bare,
// lower-case UUID.
func ParseInstanceID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > len("urn:uuid:") && strings.EqualFold(s[:len("urn:uuid:")], "urn:uuid:") {
		s = s[len("urn:uuid:"):]
	}
	// uuid.Parse also takes {…} and urn: forms; only the plain 36
	// characters are wanted here.
	if len(s) != 36 {
		return "", fmt.Errorf("%w: %q", ErrBadInstanceID, s)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrBadInstanceID, s)
	}
	return u.String(), nil
}

// LoadInstanceID reads the instance id kept in the file path, or makes a
// random one and writes it there on first use: a node without a cluster
// name keeps its id across restarts through its data directory.
func LoadInstanceID(path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id, perr := ParseInstanceID(string(b))
		if perr != nil {
			return "", fmt.Errorf("read %s: %w", path, perr)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read sip instance id: %w", err)
	}
	id := uuid.NewString()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("keep sip instance id: %w", err)
	}
	// Written to a temporary name and renamed, so that a crash leaves the
	// old file or the whole new one, never half of it.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep sip instance id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("keep sip instance id: %w", err)
	}
	return id, nil
}

// registerContact is the Contact of our REGISTER: the stack's contact,
// plus, with an instance id, the RFC 5626 section 4.1 parameters that make
// it a binding of its own at the registrar. Each node of a cluster has its
// own instance id, so the registrar keeps one binding per node and forks
// an incoming call to all of them; a restarted node replaces its old
// binding instead of adding a second one. Without regID the instance goes
// alone, for a registrar that refused reg-id (439, RFC 5626 section 6).
func registerContact(c sip.ContactHeader, instance string, regID bool) sip.ContactHeader {
	if instance == "" {
		return c
	}
	if c.Params == nil {
		c.Params = sip.NewParams()
	}
	c.Params.Add("+sip.instance", `"<urn:uuid:`+instance+`>"`)
	if regID {
		c.Params.Add("reg-id", "1")
	}
	return c
}
