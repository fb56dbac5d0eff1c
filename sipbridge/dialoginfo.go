package sipbridge

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard/monitor"
)

// The dialog event package's body, application/dialog-info+xml (RFC 4235
// section 4): a document of the dialogs a watched entity is in, sent in
// every NOTIFY of a dialog subscription. This file is the pure parser and
// the mapping of dialogs onto a device state; subscription.go does the
// SIP.

// Limits on a dialog-info document. A notifier is a peer we do not
// control: a body larger than maxDialogInfoSize, nested deeper than
// maxDialogInfoDepth or listing more than maxDialogInfoDialogs dialogs is
// refused rather than parsed.
const (
	maxDialogInfoSize    = 64 << 10
	maxDialogInfoDepth   = 16
	maxDialogInfoDialogs = 64
	// maxDialogInfoText bounds one identity or attribute kept from the
	// document (what reaches the page).
	maxDialogInfoText = 256
)

// dialogInfoNS is the document's namespace (RFC 4235 section 4.1).
const dialogInfoNS = "urn:ietf:params:xml:ns:dialog-info"

// Dialog states of RFC 4235 section 3.7.1.
const (
	dlgTrying     = "trying"
	dlgProceeding = "proceeding"
	dlgEarly      = "early"
	dlgConfirmed  = "confirmed"
	dlgTerminated = "terminated"
)

// dialogInfo is one parsed dialog-info document.
type dialogInfo struct {
	// Version orders the documents of one subscription (section 4.1.1).
	Version uint64
	// Full is state="full": the document lists every dialog; otherwise
	// (partial) only those that changed.
	Full bool
	// Entity is the watched URI.
	Entity  string
	Dialogs []dialogEntry
}

// dialogEntry is one <dialog> element.
type dialogEntry struct {
	ID        string
	CallID    string
	LocalTag  string
	RemoteTag string
	// Direction is initiator (the entity called) or recipient (it was
	// called); empty when the notifier does not say.
	Direction string
	// State is one of trying, proceeding, early, confirmed, terminated.
	State string
	// Event is the state's event attribute (cancelled, rejected,
	// replaced, local-bye, remote-bye, error, timeout).
	Event string
	// Remote is the other party, when the document names it.
	Remote monitor.Party
	// LocalHeld and RemoteHeld are set when a side's target carries the
	// +sip.rendering="no" feature parameter (RFC 4235 section 4.1.6.2):
	// that side does not render the media, the call is on hold.
	LocalHeld  bool
	RemoteHeld bool
}

// ErrBadDialogInfo is wrapped by every error of parseDialogInfo.
var ErrBadDialogInfo = errors.New("malformed dialog-info")

// parseDialogInfo parses an application/dialog-info+xml body. It refuses a
// document with a DTD (no entity of the document's own is ever expanded:
// encoding/xml knows only the five predefined ones), one over the size,
// depth or dialog limits, and one whose root is not dialog-info.
// Elements of other namespaces (extensions, RFC 4235 section 4.1) and
// unknown elements are skipped.
func parseDialogInfo(body []byte) (dialogInfo, error) {
	var di dialogInfo
	if len(body) > maxDialogInfoSize {
		return di, fmt.Errorf("%w: %d bytes, more than %d", ErrBadDialogInfo, len(body), maxDialogInfoSize)
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	// Documents are UTF-8 (RFC 4235 section 4, RFC 3023); a declaration
	// naming another charset is read as is rather than refused.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var (
		depth   int
		root    bool
		path    [maxDialogInfoDepth + 1]string
		cur     *dialogEntry
		side    string // "local" or "remote" inside a dialog
		text    strings.Builder
		display string
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return dialogInfo{}, fmt.Errorf("%w: %w", ErrBadDialogInfo, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return dialogInfo{}, fmt.Errorf("%w: a document type declaration is not allowed", ErrBadDialogInfo)
		case xml.StartElement:
			depth++
			if depth > maxDialogInfoDepth {
				return dialogInfo{}, fmt.Errorf("%w: nested deeper than %d", ErrBadDialogInfo, maxDialogInfoDepth)
			}
			name := t.Name.Local
			if t.Name.Space != dialogInfoNS && t.Name.Space != "" {
				name = "{ext}"
			}
			path[depth] = name
			text.Reset()
			if depth == 1 {
				if name != "dialog-info" {
					return dialogInfo{}, fmt.Errorf("%w: root element %q, want dialog-info", ErrBadDialogInfo, t.Name.Local)
				}
				root = true
				if err := di.setRoot(t.Attr); err != nil {
					return dialogInfo{}, err
				}
				continue
			}
			switch {
			case depth == 2 && name == "dialog":
				if len(di.Dialogs) == maxDialogInfoDialogs {
					return dialogInfo{}, fmt.Errorf("%w: more than %d dialogs", ErrBadDialogInfo, maxDialogInfoDialogs)
				}
				di.Dialogs = append(di.Dialogs, dialogEntry{})
				cur = &di.Dialogs[len(di.Dialogs)-1]
				cur.setAttrs(t.Attr)
			case depth == 3 && cur != nil && (name == "local" || name == "remote"):
				side = name
			case depth == 3 && cur != nil && name == "state":
				cur.Event = clipText(attr(t.Attr, "event"))
			case depth == 4 && cur != nil && side != "" && name == "identity":
				display = attr(t.Attr, "display")
			case depth == 5 && cur != nil && side != "" && name == "param" && path[4] == "target":
				if strings.EqualFold(attr(t.Attr, "pname"), "+sip.rendering") &&
					strings.EqualFold(strings.Trim(attr(t.Attr, "pvalue"), `"`), "no") {
					if side == "local" {
						cur.LocalHeld = true
					} else {
						cur.RemoteHeld = true
					}
				}
			}
		case xml.CharData:
			if text.Len() < maxDialogInfoSize {
				text.Write(t)
			}
		case xml.EndElement:
			name := path[depth]
			switch {
			case depth == 2 && name == "dialog":
				if cur.State == "" {
					return dialogInfo{}, fmt.Errorf("%w: dialog %q without state", ErrBadDialogInfo, cur.ID)
				}
				cur = nil
			case depth == 3 && cur != nil && name == "state":
				st := strings.ToLower(strings.TrimSpace(text.String()))
				switch st {
				case dlgTrying, dlgProceeding, dlgEarly, dlgConfirmed, dlgTerminated:
					cur.State = st
				default:
					return dialogInfo{}, fmt.Errorf("%w: dialog %q in state %q", ErrBadDialogInfo, cur.ID, clipText(st))
				}
			case depth == 3 && (name == "local" || name == "remote"):
				side = ""
			case depth == 4 && cur != nil && side == "remote" && name == "identity":
				cur.Remote = partyOf(strings.TrimSpace(text.String()), display)
			}
			text.Reset()
			depth--
		}
	}
	if !root {
		return dialogInfo{}, fmt.Errorf("%w: no dialog-info element", ErrBadDialogInfo)
	}
	return di, nil
}

// setRoot reads the dialog-info element's attributes; version and state
// are required (RFC 4235 section 4.1.1).
func (di *dialogInfo) setRoot(attrs []xml.Attr) error {
	v := attr(attrs, "version")
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: version %q is not a number", ErrBadDialogInfo, clipText(v))
	}
	di.Version = n
	switch s := strings.ToLower(strings.TrimSpace(attr(attrs, "state"))); s {
	case "full":
		di.Full = true
	case "partial":
	default:
		return fmt.Errorf("%w: state %q, want full or partial", ErrBadDialogInfo, clipText(s))
	}
	di.Entity = clipText(attr(attrs, "entity"))
	return nil
}

// setAttrs reads a dialog element's attributes.
func (d *dialogEntry) setAttrs(attrs []xml.Attr) {
	d.ID = clipText(attr(attrs, "id"))
	d.CallID = clipText(attr(attrs, "call-id"))
	d.LocalTag = clipText(attr(attrs, "local-tag"))
	d.RemoteTag = clipText(attr(attrs, "remote-tag"))
	switch dir := strings.ToLower(attr(attrs, "direction")); dir {
	case "initiator", "recipient":
		d.Direction = dir
	}
}

// key identifies the dialog across documents: its id (RFC 4235 section
// 4.1.2), else its call-id and tags.
func (d *dialogEntry) key() string {
	if d.ID != "" {
		return d.ID
	}
	return d.CallID + "\x00" + d.LocalTag + "\x00" + d.RemoteTag
}

// attr returns the value of the attribute named name (any namespace).
func attr(attrs []xml.Attr, name string) string {
	for _, a := range attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// clipText bounds a string taken from the document.
func clipText(s string) string {
	if len(s) > maxDialogInfoText {
		s = s[:maxDialogInfoText]
	}
	return s
}

// partyOf makes the other party from an identity URI and its display
// name: the number is the URI's user part (sip:1002@pbx → 1002, tel:+49…
// → +49…), else the URI as written.
func partyOf(identity, display string) monitor.Party {
	p := monitor.Party{Name: clipText(strings.TrimSpace(display))}
	id := identity
	if i := strings.IndexAny(id, "<"); i >= 0 {
		id = strings.TrimSuffix(id[i+1:], ">")
	}
	lower := strings.ToLower(id)
	switch {
	case strings.HasPrefix(lower, "sip:"), strings.HasPrefix(lower, "sips:"):
		rest := id[strings.IndexByte(id, ':')+1:]
		if at := strings.IndexByte(rest, '@'); at > 0 {
			id = rest[:at]
		} else {
			id = rest
		}
		if semi := strings.IndexAny(id, ";?"); semi >= 0 {
			id = id[:semi]
		}
	case strings.HasPrefix(lower, "tel:"):
		id = id[4:]
		if semi := strings.IndexAny(id, ";?"); semi >= 0 {
			id = id[:semi]
		}
	}
	p.Number = clipText(id)
	return p
}

// dialogSet is what a subscription knows of the watched entity's
// dialogs: the documents of one subscription applied in version order.
type dialogSet struct {
	version uint64
	known   bool
	dialogs map[string]dialogEntry
	order   []string
}

// errVersionGap is returned by apply for a partial document that does not
// follow the last one applied: a document was lost, and only a full state
// (a new SUBSCRIBE) can tell what is true now.
var errVersionGap = errors.New("dialog-info version gap")

// apply merges di into the set (RFC 4235 section 4.1.2): a document
// older than or as old as the last one applied is ignored (false); a full
// one replaces every dialog; a partial one changes only the dialogs it
// names, and removes those it reports terminated. A partial document
// before any full one, or after a gap in the versions, is errVersionGap.
func (s *dialogSet) apply(di dialogInfo) (bool, error) {
	if s.known && di.Version <= s.version {
		return false, nil
	}
	if !di.Full && (!s.known || di.Version != s.version+1) {
		return false, errVersionGap
	}
	if di.Full || s.dialogs == nil {
		s.dialogs, s.order = map[string]dialogEntry{}, nil
	}
	for _, d := range di.Dialogs {
		k := d.key()
		if d.State == dlgTerminated {
			if _, ok := s.dialogs[k]; ok {
				delete(s.dialogs, k)
				s.order = removeString(s.order, k)
			}
			continue
		}
		if _, ok := s.dialogs[k]; !ok {
			s.order = append(s.order, k)
		}
		s.dialogs[k] = d
	}
	s.version, s.known = di.Version, true
	return true, nil
}

// reset forgets everything: a new subscription counts versions anew.
func (s *dialogSet) reset() { *s = dialogSet{} }

func removeString(list []string, s string) []string {
	for i, v := range list {
		if v == s {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// deviceState is the device state the entity's live dialogs show, and
// the other parties of them in the order they appeared (RFC 4235 states
// onto the monitor's words, RFC 7463's hold hint included):
//
//   - recipient dialogs in trying, proceeding or early ring the phone
//     (as do early dialogs whose direction nobody gave);
//   - initiator dialogs in those states are the phone dialling: in use;
//   - confirmed dialogs are in use, or on hold when the entity's own
//     side does not render the media (+sip.rendering="no");
//   - a ringing dialog beside one in use or held is ringing+in-use; only
//     held dialogs are on-hold; none at all is idle.
func (s *dialogSet) deviceState() (monitor.DeviceState, []monitor.Party) {
	var ringing, busy, held bool
	var peers []monitor.Party
	for _, k := range s.order {
		d := s.dialogs[k]
		switch d.State {
		case dlgTrying, dlgProceeding, dlgEarly:
			if d.Direction == "initiator" {
				busy = true
			} else {
				ringing = true
			}
		case dlgConfirmed:
			if d.LocalHeld {
				held = true
			} else {
				busy = true
			}
		default:
			continue
		}
		if d.Remote.Number != "" || d.Remote.Name != "" {
			peers = append(peers, d.Remote)
		}
	}
	switch {
	case ringing && (busy || held):
		return monitor.DeviceRingingInUse, peers
	case ringing:
		return monitor.DeviceRinging, peers
	case busy:
		return monitor.DeviceInUse, peers
	case held:
		return monitor.DeviceOnHold, peers
	}
	return monitor.DeviceIdle, peers
}
