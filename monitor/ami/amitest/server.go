// Package amitest is a protocol-faithful Asterisk manager (AMI) server for
// tests: banner, Login (plain and MD5 challenge), Challenge, Events, Ping,
// CoreShowChannels, the state lists (ExtensionStateList, DeviceStateList,
// PresenceStateList, QueueStatus, QueueSummary: SetList), any other
// action recorded and answered (or refused with "Response: Error"), and
// events pushed to every logged-in connection. The connection plumbing (dropping connections, stopping
// and restarting on the same port) is monitortest.Server's.
package amitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5" //nolint:gosec // the AMI challenge login is MD5 by protocol
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// Server is a manager interface on 127.0.0.1. Besides its own methods it
// has monitortest.Server's: Addr, CloseConns (an Asterisk restart that
// keeps its calls), Stop, Restart, Close and the waits.
type Server struct {
	*monitortest.Server
	Username, Secret string

	mu       sync.Mutex
	conns    map[net.Conn]bool // value: logged in
	actions  []ami.Message
	channels []ami.Message
	// lists holds the events the state list actions answer with.
	lists  map[string][]ami.Message
	refuse map[string]string // action → the Message of its Error
	silent bool
}

// New starts a server accepting user/secret; it stops with the test.
func New(tb testing.TB, user, secret string) *Server {
	tb.Helper()
	return start(tb, nil, user, secret)
}

// NewTLS starts a server speaking TLS with a fresh self-signed
// certificate for 127.0.0.1, returned PEM-encoded for the client's trust.
func NewTLS(tb testing.TB, user, secret string) (*Server, []byte) {
	tb.Helper()
	cert, pemCert := selfSigned(tb)
	return start(tb, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, user, secret), pemCert
}

func selfSigned(tb testing.TB) (tls.Certificate, []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "amitest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemCert
}

func start(tb testing.TB, conf *tls.Config, user, secret string) *Server {
	tb.Helper()
	s := &Server{Username: user, Secret: secret, conns: map[net.Conn]bool{}, refuse: map[string]string{}, lists: map[string][]ami.Message{}}
	s.Server = monitortest.NewServer(tb, conf)
	s.Serve(s.serve)
	return s
}

// Refuse makes the server answer every action named action with
// "Response: Error" and message, as Asterisk refuses an action it cannot
// carry out.
func (s *Server) Refuse(action, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse[action] = message
}

// SetChannels sets the CoreShowChannel events CoreShowChannels lists.
func (s *Server) SetChannels(ch ...ami.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = ch
}

// listActions are the list actions the server answers from SetList, and
// the event that completes each list (Asterisk 13's manager.c, app_queue).
var listActions = map[string]string{
	"ExtensionStateList": "ExtensionStateListComplete",
	"DeviceStateList":    "DeviceStateListComplete",
	"PresenceStateList":  "PresenceStateListComplete",
	"QueueStatus":        "QueueStatusComplete",
	"QueueSummary":       "QueueSummaryComplete",
}

// SetList sets the events a list action answers with, in order: the
// ExtensionStatus events of ExtensionStateList, the DeviceStateChange
// events of DeviceStateList, the PresenceStateChange events of
// PresenceStateList, the QueueParams, QueueMember and QueueEntry events of
// QueueStatus, the QueueSummary events of QueueSummary. Each gets the
// action's ActionID; a list not set answers with no events.
func (s *Server) SetList(action string, events ...ami.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists[action] = events
}

// Silent makes the server stop answering actions (a hung manager).
func (s *Server) Silent(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = on
}

// Actions returns the actions received, in order.
func (s *Server) Actions() []ami.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ami.Message(nil), s.actions...)
}

// Push sends an event to every logged-in connection and returns how many
// got it.
func (s *Server) Push(ev ami.Message) int {
	b, err := ami.AppendMessage(nil, ev)
	if err != nil {
		return 0
	}
	return s.PushRaw(b)
}

// PushRaw sends b as it is to every logged-in connection (a broken or
// hostile manager's bytes) and returns how many got it.
func (s *Server) PushRaw(b []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c, in := range s.conns {
		if in {
			if _, err := c.Write(b); err == nil {
				n++
			}
		}
	}
	return n
}

func (s *Server) serve(c net.Conn) {
	s.mu.Lock()
	s.conns[c] = false
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	if _, err := c.Write([]byte("Asterisk Call Manager/5.0.1\r\n")); err != nil {
		return
	}
	r := ami.NewReader(c)
	challenge := ""
	for {
		act, err := r.ReadMessage()
		if errors.Is(err, ami.ErrMalformed) {
			s.reply(c, ami.M("Response", "Error", "Message", "Missing action in request"))
			continue
		}
		if err != nil {
			return
		}
		s.mu.Lock()
		s.actions = append(s.actions, act)
		silent, loggedIn := s.silent, s.conns[c]
		refusal, refused := s.refuse[act.Get("Action")]
		s.mu.Unlock()
		s.Notify()
		if silent {
			continue
		}
		aid := act.Get("ActionID")
		ok := ami.M("Response", "Success", "ActionID", aid)
		switch name := act.Get("Action"); {
		case refused && loggedIn:
			s.reply(c, ami.M("Response", "Error", "ActionID", aid, "Message", refusal))
		case name == "Challenge":
			challenge = strconv.Itoa(len(s.Actions())*7919 + 104729)
			s.reply(c, append(ok, ami.M("Challenge", challenge)...))
		case name == "Login":
			good := act.Get("Username") == s.Username
			if act.Get("AuthType") == "MD5" {
				sum := md5.Sum([]byte(challenge + s.Secret)) //nolint:gosec // the AMI challenge login is MD5 by protocol
				good = good && challenge != "" && act.Get("Key") == hex.EncodeToString(sum[:])
			} else {
				good = good && act.Get("Secret") == s.Secret
			}
			if !good {
				s.reply(c, ami.M("Response", "Error", "ActionID", aid, "Message", "Authentication failed"))
				return
			}
			// Answer before counting the connection as logged in, so no
			// pushed event can overtake the login response.
			s.reply(c, append(ok, ami.M("Message", "Authentication accepted")...))
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.reply(c, ami.M("Event", "FullyBooted", "Privilege", "system,all", "Status", "Fully Booted"))
		case !loggedIn:
			s.reply(c, ami.M("Response", "Error", "ActionID", aid, "Message", "Permission denied"))
		case name == "Ping":
			s.reply(c, append(ok, ami.M("Ping", "Pong", "Timestamp", "1529936170.000000")...))
		case name == "CoreShowChannels":
			s.reply(c, append(ok, ami.M("EventList", "start", "Message", "Channels will follow")...))
			s.mu.Lock()
			chans := append([]ami.Message(nil), s.channels...)
			s.mu.Unlock()
			for _, ch := range chans {
				s.reply(c, append(ami.M("Event", "CoreShowChannel", "ActionID", aid), ch...))
			}
			s.reply(c, ami.M("Event", "CoreShowChannelsComplete", "ActionID", aid, "EventList", "Complete", "ListItems", strconv.Itoa(len(chans))))
		case listActions[name] != "":
			s.reply(c, append(ok, ami.M("EventList", "start", "Message", name+" will follow")...))
			s.mu.Lock()
			events := append([]ami.Message(nil), s.lists[name]...)
			s.mu.Unlock()
			for _, ev := range events {
				s.reply(c, withActionID(ev, aid))
			}
			s.reply(c, ami.M("Event", listActions[name], "ActionID", aid, "EventList", "Complete", "ListItems", strconv.Itoa(len(events))))
		default:
			s.reply(c, ok)
		}
	}
}

// withActionID returns ev with the ActionID aid after its Event line.
func withActionID(ev ami.Message, aid string) ami.Message {
	out := make(ami.Message, 0, len(ev)+1)
	for i, f := range ev {
		out = append(out, f)
		if i == 0 {
			out = append(out, ami.Field{Key: "ActionID", Value: aid})
		}
	}
	return out
}

func (s *Server) reply(c net.Conn, m ami.Message) {
	b, err := ami.AppendMessage(nil, m)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = c.Write(b)
}
