package ami

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// state is what the tracker knows of the PBX beside its calls: the
// extensions (hints and the devices behind them, presence) and the queues
// (callers, members, totals). The tracker's handlers change it under the
// tracker's lock; it publishes through its own single writers.
type state struct {
	exts   *monitor.ExtensionTracker
	queues *monitor.QueueTracker
	cfg    monitor.StateConfig
	now    func() time.Time

	hints      map[string]*hint               // by exten@context
	byDevice   map[string][]*hint             // a device's hints (phone and DND devices)
	byPresence map[string][]*hint             // a presence provider's hints
	devices    map[string]monitor.DeviceState // the last DeviceStateChange of each device
	presences  map[string]presence            // the last PresenceStateChange of each presentity
	// deviceExts are the phones without a hint shown as extensions of
	// their own, by device.
	deviceExts map[string]bool
	// busy holds the keys of the extensions shown on calls: they are
	// looked at again when calls end or move.
	busy map[string]bool

	// The listings in progress (a list action's events carry its
	// ActionID): what each has named so far.
	extList, devList *listing
	queueList        *queueListing
}

// hint is an extension with a dialplan hint, such as
// exten => 201,hint,PJSIP/201&Custom:DND201,CustomPresence:201.
type hint struct {
	key, exten, raw string
	// devices are the hint's phones; dnd its Custom:DND… devices (the
	// do-not-disturb feature codes of FreePBX and others set them BUSY);
	// provider its presence provider.
	devices, dnd []string
	provider     string
	// status is the hint state bit set of the last ExtensionStatus.
	status int
	known  bool
	// pres and message: the last PresenceStatus of the hint.
	pres    monitor.Presence
	message string
}

type presence struct {
	p       monitor.Presence
	message string
}

// listing collects the keys one list action named.
type listing struct {
	id   string
	seen map[string]bool
}

// queueListing collects what one QueueStatus named.
type queueListing struct {
	id      string
	queues  map[string]bool
	members map[string]map[string]bool // queue → interfaces
	callers map[string]map[string]bool // queue → Uniqueids
}

func newState(source monitor.SourceName, sink monitor.Sink) *state {
	st := &state{exts: monitor.NewExtensionTracker(source, sink), now: time.Now}
	st.queues = monitor.NewQueueTracker(source, sink, func(q string) int { return st.cfg.Threshold(q) })
	st.reset()
	return st
}

func (st *state) reset() {
	st.hints = map[string]*hint{}
	st.byDevice = map[string][]*hint{}
	st.byPresence = map[string][]*hint{}
	st.devices = map[string]monitor.DeviceState{}
	st.presences = map[string]presence{}
	st.deviceExts = map[string]bool{}
	st.busy = map[string]bool{}
	st.extList, st.devList, st.queueList = nil, nil, nil
}

func (st *state) setClock(now func() time.Time) {
	st.now = now
	st.exts.SetClock(now)
	st.queues.SetClock(now)
}

// SetStateConfig sets the service-level thresholds the queues use.
func (tr *Tracker) SetStateConfig(cfg monitor.StateConfig) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.st.cfg = cfg
}

// addStateHandlers puts the extension and queue events into the dispatch
// table. Events the call tracking handles too (a caller joining a queue,
// an agent connecting, a hang-up) get both.
func (tr *Tracker) addStateHandlers() {
	own := map[string]func(Message){
		"ExtensionStatus":            tr.extensionStatus,
		"ExtensionStateListComplete": tr.extensionListComplete,
		"DeviceStateChange":          tr.deviceStateChange,
		"DeviceStateListComplete":    tr.deviceListComplete,
		"PresenceStatus":             tr.presenceStatus,
		"PresenceStateChange":        tr.presenceStateChange,
		"PresenceStateListComplete":  func(Message) {},
		"QueueParams":                tr.queueParams,
		"QueueMember":                tr.queueMemberListed,
		"QueueEntry":                 tr.queueEntry,
		"QueueStatusComplete":        tr.queueStatusComplete,
		"QueueSummary":               tr.queueSummary,
		"QueueSummaryComplete":       func(Message) {},
		"QueueMemberStatus":          tr.queueMemberEvent,
		"QueueMemberAdded":           tr.queueMemberEvent,
		"QueueMemberPause":           tr.queueMemberEvent,
		"QueueMemberPenalty":         tr.queueMemberEvent,
		"QueueMemberRinginuse":       tr.queueMemberEvent,
		"QueueMemberPaused":          tr.queueMemberPaused,
		"QueueMemberRemoved":         tr.queueMemberRemoved,
	}
	for name, h := range own {
		tr.handlers[name] = h
	}
	also := map[string]func(Message){
		"QueueCallerJoin":    tr.queueCallerJoin,
		"QueueCallerLeave":   tr.queueCallerLeave,
		"QueueCallerAbandon": tr.queueCallerAbandon,
		"AgentCalled":        tr.agentCalled,
		"AgentRingNoAnswer":  tr.agentRingNoAnswer,
		"AgentConnect":       tr.agentConnected,
		"AgentComplete":      tr.agentComplete,
		// Calls end and channels move between calls: the extensions
		// shown on calls are looked at again.
		"Hangup":           tr.refreshBusy,
		"BlindTransfer":    tr.refreshBusy,
		"AttendedTransfer": tr.refreshBusy,
		"BridgeEnter":      tr.refreshBusy,
	}
	for name, h := range also {
		before := tr.handlers[name]
		if before == nil {
			tr.handlers[name] = h
			continue
		}
		tr.handlers[name] = func(m Message) { before(m); h(m) }
	}
}

// endState settles the extensions and queues when the link is given up:
// at stop they go, after a link lost too long nothing about them is
// known any more.
func (tr *Tracker) endState(stopped bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if stopped {
		tr.st.exts.RemoveAll()
		tr.st.queues.RemoveAll()
		tr.st.reset()
		return
	}
	tr.st.exts.Unknown()
	tr.st.queues.Unknown()
	tr.st.busy = map[string]bool{}
	for _, h := range tr.st.hints {
		h.known = false
	}
	tr.st.devices = map[string]monitor.DeviceState{}
}

// deviceOf is the device a channel belongs to: "PJSIP/201-0000000a" →
// "PJSIP/201".
func deviceOf(chanName string) string {
	if i := strings.LastIndexByte(chanName, '-'); i > 0 {
		return chanName[:i]
	}
	return chanName
}

// deviceCalls returns the active calls of every device with a channel,
// found in one walk over the channels; mu held on entry.
func (tr *Tracker) deviceCalls() map[string][]monitor.CallID {
	out := map[string][]monitor.CallID{}
	for _, ch := range tr.chans {
		if !ch.real() || ch.gone {
			continue
		}
		ci := tr.calls[ch.key]
		if ci == nil || !ci.started {
			continue
		}
		dev := deviceOf(ch.name)
		id := monitor.MakeCallID(tr.source, ci.key)
		if !slices.Contains(out[dev], id) {
			out[dev] = append(out[dev], id)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// callsOf returns the calls of devices, sorted; mu held on entry.
func callsOf(calls map[string][]monitor.CallID, devices ...string) []monitor.CallID {
	var out []monitor.CallID
	for _, d := range devices {
		for _, id := range calls[d] {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// refreshBusy looks again at the calls of the extensions shown on calls,
// after an event that may have ended or moved one; mu held on entry.
func (tr *Tracker) refreshBusy(Message) {
	if len(tr.st.busy) == 0 {
		return
	}
	calls := tr.deviceCalls()
	keys := make([]string, 0, len(tr.st.busy))
	for k := range tr.st.busy {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if h := tr.st.hints[k]; h != nil {
			tr.publishHint(h, time.Time{}, calls)
		} else if tr.st.deviceExts[k] {
			tr.publishDevice(k, time.Time{}, calls)
		} else {
			delete(tr.st.busy, k)
		}
	}
}

// noteBusy keeps track of which extensions show calls.
func (st *state) noteBusy(key string, calls []monitor.CallID) {
	if len(calls) > 0 {
		st.busy[key] = true
	} else {
		delete(st.busy, key)
	}
}

// callOfChannel is the call id of the channel with Uniqueid uid, when it
// belongs to a published call; mu held on entry.
func (tr *Tracker) callOfChannel(uid string) monitor.CallID {
	ci := tr.callOf(tr.chans[uid])
	if ci == nil || !ci.started {
		return ""
	}
	return monitor.MakeCallID(tr.source, ci.key)
}

// epoch reads a time in seconds since 1970 (LastCall, LastPause); zero
// for none.
func epoch(s string) time.Time {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// at is when m happened: its Timestamp, else now by the trackers' clock
// (the zero time).
func at(m Message) time.Time { return eventTime(m) }

// now is at(m), or the tracker's clock when m has no Timestamp, for
// times computed from durations (a caller who has waited Wait seconds).
func (tr *Tracker) now(m Message) time.Time {
	if t := eventTime(m); !t.IsZero() {
		return t
	}
	return tr.st.now()
}

// stateLists are the list actions that rebuild the extension and queue
// state after every (re)connect, in this order: the hints first, so the
// devices behind them are known as such.
var stateLists = []string{"ExtensionStateList", "DeviceStateList", "PresenceStateList", "QueueStatus", "QueueSummary"}

// queueLists are listed again every StateRefresh.
var queueLists = []string{"QueueStatus", "QueueSummary"}

// listState asks for the state lists, then every refresh period for the
// queue lists, until ctx ends. Their events reach the tracker through the
// session's event stream, in order among the others. A list the manager
// refuses (an Asterisk without it, a user without the permission) is
// logged once and not asked for again on this connection.
func (ss *session) listState(ctx context.Context) {
	s := ss.p.s
	log := s.o.Log.With("component", "ami", "source", s.cfg.Name)
	refused := map[string]bool{}
	list := func(names []string) bool {
		for _, name := range names {
			if refused[name] {
				continue
			}
			// A listing is bounded like an action; the events keep
			// coming through the stream either way.
			actx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
			err := ss.conn.StreamAction(actx, M("Action", name))
			cancel()
			switch {
			case ctx.Err() != nil:
				return false
			case errors.Is(err, monitor.ErrRefused):
				refused[name] = true
				log.Info("list refused: its state is not shown", "action", name, "error", err)
			case err != nil:
				// Timed out, or the link broke: the next list may still
				// work, and Follow notices a broken link.
				log.Debug("list failed", "action", name, "error", err)
			}
		}
		return true
	}
	if !list(stateLists) {
		return
	}
	every := s.cfg.StateConfig.Refresh()
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !list(queueLists) {
				return
			}
		}
	}
}
