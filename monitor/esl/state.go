package esl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Extensions and queues of FreeSWITCH. A user (user@domain) is an
// extension: registered or not from `show registrations` and
// sofia::register / unregister / expire, ringing, in a call or held from
// the PRESENCE_IN events its channels raise (presence-call-info-state,
// else answer-state), and away, do not disturb or extended away from the
// presence it publishes (PRESENCE_IN without a channel: rpid and status).
// mod_callcenter's queues and agents come from `callcenter_config` lists
// after every connect and from its callcenter::info events.

// stateEvents are the events the state needs beside the calls.
var stateEvents = []string{"PRESENCE_IN"}

// stateSubclasses are the CUSTOM subclasses the state needs.
var stateSubclasses = []string{"sofia::register", "sofia::unregister", "sofia::expire", "callcenter::info"}

// state is what the tracker knows of users, agents and queues; guarded by
// the tracker's lock.
type state struct {
	exts   *monitor.ExtensionTracker
	queues *monitor.QueueTracker
	cfg    monitor.StateConfig
	now    func() time.Time

	users  map[string]*user  // by user@domain
	agents map[string]*agent // mod_callcenter agents by name
	// members are the callers waiting (or talking) in a queue, by
	// CC-Member-UUID.
	members map[string]*member
}

type user struct {
	key, number string
	// registered is known once a registration list or event named the
	// user; regAt is when it last changed.
	registered, regKnown bool
	regAt                time.Time
	// channels holds the state of each of the user's channels its
	// presence named, by Unique-ID.
	channels map[string]monitor.DeviceState
	pres     monitor.Presence
	message  string
}

type agent struct {
	name          string
	status, state string
	queues        map[string]bool
	// call is the caller the agent talks to (its session's call).
	call monitor.CallID
}

type member struct {
	queue, session string
	joined         time.Time
}

func newState(source monitor.SourceName, sink monitor.Sink) *state {
	st := &state{exts: monitor.NewExtensionTracker(source, sink), now: time.Now}
	st.queues = monitor.NewQueueTracker(source, sink, func(q string) int { return st.cfg.Threshold(q) })
	st.reset()
	return st
}

func (st *state) reset() {
	st.users = map[string]*user{}
	st.agents = map[string]*agent{}
	st.members = map[string]*member{}
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

// stateHandlers are the state's events in the tracker's dispatch table.
var stateHandlers = map[string]func(*Tracker, Event){
	"PRESENCE_IN":       (*Tracker).presenceIn,
	"sofia::register":   passing((*Tracker).register),
	"sofia::unregister": passing((*Tracker).unregister),
	"sofia::expire":     passing((*Tracker).unregister),
	"callcenter::info":  passing((*Tracker).callcenter),
}

// passing is h, the event then passed on as a user event when wanted.
func passing(h func(*Tracker, Event)) func(*Tracker, Event) {
	return func(tr *Tracker, e Event) {
		h(tr, e)
		tr.passedOn(e)
	}
}

func init() {
	for name, h := range stateHandlers {
		handlers[name] = h
	}
}

// endState settles users and queues when the link is given up: at stop
// they go, after a link lost too long nothing about them is known.
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
	for _, u := range tr.st.users {
		u.regKnown, u.channels, u.pres, u.message = false, nil, "", ""
	}
}

// userKey is user@domain from a presence From ("sip:1000@pbx.example",
// "1000@pbx.example") or a user and a host.
func userKey(from string) (key, number string) {
	from = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(from), "sip:"), "sips:")
	if i := strings.IndexAny(from, ";>"); i >= 0 {
		from = from[:i]
	}
	number, _, _ = strings.Cut(from, "@")
	return from, number
}

// userOf returns the user key names, making it; mu held on entry.
func (st *state) userOf(key, number string) *user {
	u := st.users[key]
	if u == nil {
		u = &user{key: key, number: number}
		st.users[key] = u
	}
	return u
}

// callState maps the call state a presence event gives a channel:
// presence-call-info-state (mod_sofia's call-info states: alerting,
// progressing, active, held, idle), else answer-state (early, ringing,
// confirmed, answered, terminated). ok is false when the event names
// neither.
func callState(e Event) (s monitor.DeviceState, ended, ok bool) {
	switch strings.ToLower(e.Get("presence-call-info-state")) {
	case "alerting", "progressing", "seized", "ringing":
		return monitor.DeviceRinging, false, true
	case "active":
		return monitor.DeviceInUse, false, true
	case "held", "held-private", "bridge-held":
		return monitor.DeviceOnHold, false, true
	case "idle":
		return "", true, true
	}
	switch strings.ToLower(e[hAnswerState]) {
	case "early", "ringing":
		return monitor.DeviceRinging, false, true
	case "confirmed", "answered":
		return monitor.DeviceInUse, false, true
	case "terminated", "hangup":
		return "", true, true
	}
	return "", false, false
}

// personPresence maps the presence a user publishes (rpid and status,
// as mod_sofia reports a PUBLISH or a `presence in`) onto the presences.
// A phone that says busy while it is on no call is doing do not disturb.
func personPresence(rpid, status string) (p monitor.Presence, ok bool) {
	r, s := strings.ToLower(strings.TrimSpace(rpid)), strings.ToLower(strings.TrimSpace(status))
	switch {
	case r == "dnd" || strings.Contains(s, "dnd") || strings.Contains(s, "do not disturb"):
		return monitor.PresenceDND, true
	case r == "xa" || r == "extended-away" || r == "vacation" || r == "holiday" || strings.Contains(s, "extended away") || strings.Contains(s, "holiday") || strings.Contains(s, "vacation"):
		return monitor.PresenceXA, true
	case r == "away" || r == "appointment" || r == "meal" || r == "lunch" || strings.Contains(s, "away") || strings.Contains(s, "lunch"):
		return monitor.PresenceAway, true
	case r == "busy" || s == "busy":
		return monitor.PresenceDND, true
	case r == "available" || r == "online" || s == "available" || s == "online" || s == "open":
		return monitor.PresenceAvailable, true
	}
	return "", false
}

// deviceOf is a user's device state: its channels (ringing over in use
// over on hold), else idle when registered, unavailable when not.
func (u *user) deviceOf() monitor.DeviceState {
	var ringing, inUse, held bool
	for _, s := range u.channels {
		switch s {
		case monitor.DeviceRinging:
			ringing = true
		case monitor.DeviceOnHold:
			held = true
		default:
			inUse = true
		}
	}
	switch {
	case ringing && (inUse || held):
		return monitor.DeviceRingingInUse
	case ringing:
		return monitor.DeviceRinging
	case inUse:
		return monitor.DeviceInUse
	case held:
		return monitor.DeviceOnHold
	case !u.regKnown:
		return monitor.DeviceUnknown
	case u.registered:
		return monitor.DeviceIdle
	}
	return monitor.DeviceUnavailable
}

// publishUser publishes the extension of u; mu held on entry.
func (tr *Tracker) publishUser(u *user, at time.Time) {
	var calls []monitor.CallID
	for uuid := range u.channels {
		if l := tr.legs[uuid]; l != nil && l.call != nil {
			id := monitor.MakeCallID(tr.source, l.call.key)
			if !slices.Contains(calls, id) {
				calls = append(calls, id)
			}
		}
	}
	slices.Sort(calls)
	state, number, pres, msg := u.deviceOf(), u.number, u.pres, u.message
	tr.st.exts.Update(u.key, at, func(e *monitor.Extension) {
		e.Number, e.Device, e.State, e.Presence, e.Message, e.Calls = number, "user/"+number, state, pres, msg, calls
	})
}

// presenceIn is a PRESENCE_IN event: a channel of the user changing
// state, its registration, or the presence the user set.
func (tr *Tracker) presenceIn(e Event) {
	from := first(e.Get("from"), e.Get("login"))
	if from == "" {
		return
	}
	key, number := userKey(from)
	if key == "" || number == "" {
		return
	}
	u := tr.st.userOf(key, number)
	at := e.Time()
	status := e.Get("status")
	uuid := e[hUniqueID]
	if s, ended, ok := callState(e); ok && uuid != "" {
		// A phone with calls is registered.
		if !u.regKnown {
			u.registered, u.regKnown = true, true
		}
		if u.channels == nil {
			u.channels = map[string]monitor.DeviceState{}
		}
		if ended {
			delete(u.channels, uuid)
		} else {
			u.channels[uuid] = s
		}
		tr.publishUser(u, at)
		return
	}
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "registered", "registered (udp)", "registered (tcp)", "registered (tls)", "registered (ws)", "registered (wss)":
		u.registered, u.regKnown = true, true
		tr.publishUser(u, at)
		return
	case "unregistered", "offline":
		u.registered, u.regKnown = false, true
		tr.publishUser(u, at)
		return
	}
	if strings.HasPrefix(strings.ToLower(status), "registered") {
		u.registered, u.regKnown = true, true
		tr.publishUser(u, at)
		return
	}
	if p, ok := personPresence(e.Get("rpid"), status); ok {
		u.pres = p
		u.message = ""
		if status != "" && !plainWord(status) {
			u.message = strings.Clone(status)
		}
		tr.publishUser(u, at)
	}
}

// plainWord reports whether a presence status only restates the state.
func plainWord(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "available", "online", "open", "away", "busy", "dnd", "do not disturb", "extended away", "xa":
		return true
	}
	return false
}

// register is sofia::register: from-user at from-host registered.
func (tr *Tracker) register(e Event) {
	tr.registration(e, true)
}

// unregister is sofia::unregister and sofia::expire.
func (tr *Tracker) unregister(e Event) {
	tr.registration(e, false)
}

func (tr *Tracker) registration(e Event, on bool) {
	user, host := e.Get("from-user"), e.Get("from-host")
	if user == "" {
		return
	}
	key := user
	if host != "" {
		key += "@" + host
	}
	u := tr.st.userOf(key, user)
	u.registered, u.regKnown, u.regAt = on, true, orNow(e.Time())
	tr.publishUser(u, e.Time())
}

// registrationRow is one row of `show registrations as json`.
type registrationRow struct {
	User  string `json:"reg_user"`
	Realm string `json:"realm"`
}

// parseRegistrations decodes `show registrations as json`; with none
// FreeSWITCH prints {"row_count":0}.
func parseRegistrations(out string) ([]registrationRow, error) {
	var res struct {
		Rows []registrationRow `json:"rows"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil {
		return nil, fmt.Errorf("esl show registrations: %w", err)
	}
	return res.Rows, nil
}

// applyRegistrations sets who is registered from a listing asked for at
// asked: users listed are registered, users not listed are not, unless
// an event since said otherwise.
func (tr *Tracker) applyRegistrations(rows []registrationRow, asked time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	listed := map[string]bool{}
	for _, r := range rows {
		if r.User == "" {
			continue
		}
		key := r.User
		if r.Realm != "" {
			key += "@" + r.Realm
		}
		listed[key] = true
		u := tr.st.userOf(key, r.User)
		if u.regKnown && u.regAt.After(asked) {
			continue
		}
		u.registered, u.regKnown = true, true
		tr.publishUser(u, time.Time{})
	}
	for key, u := range tr.st.users {
		if listed[key] || (u.regKnown && u.regAt.After(asked)) || (u.regKnown && !u.registered) {
			continue
		}
		u.registered, u.regKnown = false, true
		tr.publishUser(u, time.Time{})
	}
}

// table reads the pipe-separated tables of callcenter_config's list
// commands: a header line naming the columns, one line per row, and a
// last line "+OK". A "-ERR" answer (mod_callcenter not loaded, no such
// queue) is ErrNoCallcenter.
func table(out string) ([]map[string]string, error) {
	out = strings.TrimSpace(out)
	if strings.HasPrefix(out, "-ERR") || strings.HasPrefix(out, "-USAGE") {
		return nil, fmt.Errorf("%w: %s", ErrNoCallcenter, firstLine([]byte(out)))
	}
	lines := strings.Split(out, "\n")
	var head []string
	var rows []map[string]string
	for _, line := range lines {
		line = strings.TrimRight(line, "\r")
		if line == "" || line == "+OK" {
			continue
		}
		cols := strings.Split(line, "|")
		if head == nil {
			head = cols
			continue
		}
		row := make(map[string]string, len(head))
		for i, h := range head {
			if i < len(cols) {
				row[h] = cols[i]
			}
		}
		rows = append(rows, row)
	}
	if head == nil {
		return nil, fmt.Errorf("%w: no table", ErrNoCallcenter)
	}
	return rows, nil
}

// agentState maps mod_callcenter's agent status (Logged Out, Available,
// Available (On Demand), On Break) and state (Waiting, Receiving, In a
// queue call, Idle) onto a member: Idle is a state in which no calls are
// given (after a call, during its wrap-up time), shown busy; On Break is
// a pause.
func agentState(status, state string) (d monitor.DeviceState, paused bool) {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "logged out":
		return monitor.DeviceUnavailable, false
	case "on break":
		paused = true
	}
	switch strings.ToLower(strings.TrimSpace(state)) {
	case "waiting":
		return monitor.DeviceIdle, paused
	case "receiving":
		return monitor.DeviceRinging, paused
	case "in a queue call":
		return monitor.DeviceInUse, paused
	case "idle":
		return monitor.DeviceBusy, paused
	}
	return monitor.DeviceUnknown, paused
}

// agentOf returns the agent named name, making it; mu held on entry.
func (st *state) agentOf(name string) *agent {
	a := st.agents[name]
	if a == nil {
		a = &agent{name: name, queues: map[string]bool{}}
		st.agents[name] = a
	}
	return a
}

// publishAgent applies the agent's state to it in every queue it
// belongs to; mu held on entry.
func (tr *Tracker) publishAgent(a *agent, at time.Time) {
	for _, q := range sortedKeys(a.queues) {
		tr.st.queues.Update(q, at, func(qu *monitor.Queue) { applyAgent(qu.Member(a.name), a, at) })
	}
}

func applyAgent(m *monitor.QueueMember, a *agent, at time.Time) {
	state, paused := agentState(a.status, a.state)
	m.State = state
	reason := ""
	if paused {
		reason = a.status
	}
	m.Pause(paused, reason, orNow(at))
	m.InCall = strings.EqualFold(a.state, "In a queue call")
	m.Call = ""
	if m.InCall {
		m.Call = a.call
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// epochTime reads mod_callcenter's times (seconds since 1970).
func epochTime(s string) time.Time {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// callcenter is a callcenter::info event, by its CC-Action.
func (tr *Tracker) callcenter(e Event) {
	st := tr.st
	at := e.Time()
	q := e.Get("CC-Queue")
	switch e.Get("CC-Action") {
	case "agent-status-change":
		a := st.agentOf(strings.Clone(e.Get("CC-Agent")))
		a.status = strings.Clone(e.Get("CC-Agent-Status"))
		tr.publishAgent(a, at)
	case "agent-state-change":
		a := st.agentOf(strings.Clone(e.Get("CC-Agent")))
		a.state = strings.Clone(e.Get("CC-Agent-State"))
		tr.publishAgent(a, at)
	case "agent-offering":
		if q == "" {
			return
		}
		a := st.agentOf(strings.Clone(e.Get("CC-Agent")))
		a.queues[strings.Clone(q)] = true
		tr.st.queues.Update(q, at, func(qu *monitor.Queue) { qu.Member(a.name).State = monitor.DeviceRinging })
	case "bridge-agent-start":
		tr.bridgeAgentStart(e, q, at)
	case "bridge-agent-end":
		if q == "" {
			return
		}
		a := st.agentOf(strings.Clone(e.Get("CC-Agent")))
		a.call = ""
		end := orNow(epochTime(e.Get("CC-Bridge-Terminated-Time")))
		tr.st.queues.Update(q, at, func(qu *monitor.Queue) {
			m := qu.Member(a.name)
			m.InCall, m.Call = false, ""
			m.CallsTaken++
			m.LastCall = end
		})
	case "bridge-agent-fail":
		if q == "" {
			return
		}
		a := st.agentOf(strings.Clone(e.Get("CC-Agent")))
		tr.st.queues.Update(q, at, func(qu *monitor.Queue) { applyAgent(qu.Member(a.name), a, at) })
	case "member-queue-start":
		tr.memberQueueStart(e, q, at)
	case "member-queue-end":
		tr.memberQueueEnd(e, q, at)
	case "members-count":
		if q != "" && strings.TrimSpace(e.Get("CC-Count")) == "0" {
			tr.st.queues.Update(q, at, func(qu *monitor.Queue) { qu.Callers = nil })
		}
	}
}

// sessionCall is the call of a member's session (its channel), when the
// tracker follows it; mu held on entry.
func (tr *Tracker) sessionCall(session string) (*callInfo, monitor.CallID) {
	l := tr.legs[session]
	if l == nil || l.call == nil {
		return nil, ""
	}
	return l.call, monitor.MakeCallID(tr.source, l.call.key)
}

func (tr *Tracker) memberQueueStart(e Event, q string, at time.Time) {
	id, session := e.Get("CC-Member-UUID"), e.Get("CC-Member-Session-UUID")
	if q == "" || id == "" {
		return
	}
	joined := epochTime(e.Get("CC-Member-Joined-Time"))
	if joined.IsZero() {
		joined = orNow(at)
	}
	q = strings.Clone(q)
	tr.st.members[strings.Clone(id)] = &member{queue: q, session: strings.Clone(session), joined: joined}
	ci, call := tr.sessionCall(session)
	if ci != nil {
		ci.queue, ci.queueJoined, ci.agent = q, joined, nil
		tr.t.Update(ci.key, func(c *monitor.Call) { c.Queue = q })
	}
	c := monitor.QueueCaller{ID: strings.Clone(id), Call: call, Number: strings.Clone(e.Get("CC-Member-CID-Number")),
		Name: strings.Clone(e.Get("CC-Member-CID-Name")), Joined: joined}
	if c.Name == c.Number {
		c.Name = ""
	}
	tr.st.queues.Update(q, at, func(qu *monitor.Queue) { qu.AddCaller(c) })
}

func (tr *Tracker) bridgeAgentStart(e Event, q string, at time.Time) {
	if q == "" {
		return
	}
	a := tr.st.agentOf(strings.Clone(e.Get("CC-Agent")))
	a.queues[strings.Clone(q)] = true
	ci, call := tr.sessionCall(e.Get("CC-Member-Session-UUID"))
	a.call = call
	if ci != nil {
		agentParty := monitor.Party{Number: agentNumber(a.name), Name: a.name}
		ci.agent = &agentParty
		tr.t.Update(ci.key, func(c *monitor.Call) { c.AnsweredBy = &agentParty })
	}
	tr.st.queues.Update(q, at, func(qu *monitor.Queue) {
		qu.RemoveCaller(e.Get("CC-Member-UUID"))
		m := qu.Member(a.name)
		m.InCall, m.Call, m.State = true, call, monitor.DeviceInUse
	})
}

// agentNumber is the user part of an agent named after its extension
// ("1000@default" → "1000").
func agentNumber(name string) string {
	n, _, _ := strings.Cut(name, "@")
	return n
}

// memberQueueEnd: a caller left the queue, Terminated after talking to an
// agent or Cancel (hung up, timed out: CC-Cancel-Reason).
func (tr *Tracker) memberQueueEnd(e Event, q string, at time.Time) {
	id := e.Get("CC-Member-UUID")
	if q == "" {
		return
	}
	delete(tr.st.members, id)
	joined := epochTime(e.Get("CC-Member-Joined-Time"))
	leaving := epochTime(e.Get("CC-Member-Leaving-Time"))
	answered := epochTime(e.Get("CC-Agent-Answered-Time"))
	cause := e.Get("CC-Cause")
	tr.st.queues.Update(q, at, func(qu *monitor.Queue) {
		qu.RemoveCaller(id)
		if joined.IsZero() || leaving.IsZero() {
			return
		}
		switch {
		case strings.EqualFold(cause, "Terminated") && !answered.IsZero():
			qu.Stats.Complete(answered.Sub(joined), leaving.Sub(answered))
		case strings.EqualFold(cause, "Cancel"):
			qu.Stats.Abandon(leaving.Sub(joined))
		}
	})
}

// listCallcenter lists mod_callcenter's queues, their agents and waiting
// callers, and applies them (asked is when the listing began). A switch
// without mod_callcenter answers -ERR: ErrNoCallcenter.
func (ss *session) listCallcenter(ctx context.Context) error {
	c := ss.conn
	asked := ss.p.tr.st.now()
	out, err := c.API(ctx, "callcenter_config", "queue list")
	if err != nil {
		return err
	}
	queues, err := table(out)
	if err != nil {
		return err
	}
	if out, err := c.API(ctx, "callcenter_config", "agent list"); err == nil {
		if rows, err := table(out); err == nil {
			ss.p.tr.applyAgents("", rows, asked)
		}
	}
	names := make([]string, 0, len(queues))
	for _, q := range queues {
		name := q["name"]
		if name == "" || !validQueue(name) {
			continue
		}
		names = append(names, name)
		agents, err := c.API(ctx, "callcenter_config", "queue list agents "+name)
		if err != nil {
			return err
		}
		members, err := c.API(ctx, "callcenter_config", "queue list members "+name)
		if err != nil {
			return err
		}
		arows, aerr := table(agents)
		mrows, merr := table(members)
		ss.p.tr.applyQueue(name, q, arows, aerr == nil, mrows, merr == nil, asked)
	}
	ss.p.tr.retainQueues(names)
	return nil
}

// validQueue keeps a queue name from adding words to a command.
func validQueue(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n'\"|")
}

// applyAgents sets agents' status and state from a listing; with queue
// set, the agents listed are that queue's members.
func (tr *Tracker) applyAgents(queue string, rows []map[string]string, asked time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.applyAgentsLocked(queue, rows)
}

func (tr *Tracker) applyAgentsLocked(queue string, rows []map[string]string) {
	for _, r := range rows {
		name := r["name"]
		if name == "" {
			continue
		}
		a := tr.st.agentOf(name)
		a.status, a.state = r["status"], r["state"]
		if queue != "" {
			a.queues[queue] = true
		}
		if queue == "" {
			tr.publishAgent(a, time.Time{})
		}
	}
}

// applyQueue sets a queue from its listing: its members (agents) and the
// callers waiting; a caller not listed who joined before the listing
// began has gone.
func (tr *Tracker) applyQueue(name string, row map[string]string, agents []map[string]string, agentsOK bool, members []map[string]string, membersOK bool, asked time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if agentsOK {
		tr.applyAgentsLocked(name, agents)
	}
	listedAgents := map[string]bool{}
	for _, r := range agents {
		listedAgents[r["name"]] = true
	}
	for _, a := range tr.st.agents {
		if agentsOK && !listedAgents[a.name] {
			delete(a.queues, name)
		}
	}
	var callers []monitor.QueueCaller
	for _, r := range members {
		switch strings.ToLower(r["state"]) {
		case "waiting", "trying":
		default:
			continue
		}
		id := r["uuid"]
		joined := epochTime(first(r["rejoined_epoch"], r["joined_epoch"]))
		if r["rejoined_epoch"] == "0" {
			joined = epochTime(r["joined_epoch"])
		}
		_, call := tr.sessionCall(r["session_uuid"])
		c := monitor.QueueCaller{ID: id, Call: call, Number: r["cid_number"], Name: r["cid_name"], Joined: joined}
		if c.Name == c.Number {
			c.Name = ""
		}
		callers = append(callers, c)
		tr.st.members[id] = &member{queue: name, session: r["session_uuid"], joined: joined}
	}
	slices.SortStableFunc(callers, func(a, b monitor.QueueCaller) int { return a.Joined.Compare(b.Joined) })
	strategy := row["strategy"]
	tr.st.queues.Update(name, time.Time{}, func(qu *monitor.Queue) {
		qu.Strategy = strategy
		if agentsOK {
			for _, m := range append([]monitor.QueueMember(nil), qu.Members...) {
				if !listedAgents[m.Interface] {
					qu.RemoveMember(m.Interface)
				}
			}
			for _, r := range agents {
				if a := tr.st.agents[r["name"]]; a != nil {
					m := qu.Member(a.name)
					applyAgent(m, a, time.Time{})
					m.Membership = r["type"]
					if n, err := strconv.Atoi(r["calls_answered"]); err == nil {
						m.CallsTaken = n
					}
					if t := epochTime(r["last_bridge_end"]); !t.IsZero() {
						m.LastCall = t
					}
				}
			}
		}
		if !membersOK {
			return
		}
		listed := map[string]bool{}
		for _, c := range callers {
			listed[c.ID] = true
			if old := qu.Caller(c.ID); old != nil {
				c.Position = old.Position
			}
			qu.AddCaller(c)
		}
		for _, c := range append([]monitor.QueueCaller(nil), qu.Callers...) {
			if !listed[c.ID] && c.Joined.Before(asked) {
				qu.RemoveCaller(c.ID)
			}
		}
	})
}

// retainQueues removes the queues a listing no longer has.
func (tr *Tracker) retainQueues(names []string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.st.queues.Retain(func(q string) bool { return slices.Contains(names, q) })
}

// listState lists registrations and mod_callcenter's queues after every
// connect, and the queues again every refresh period, until ctx ends. A
// switch without mod_callcenter is asked once per connection.
func (ss *session) listState(ctx context.Context) {
	s := ss.p.s
	if out, err := ss.conn.API(ctx, "show", "registrations as json"); err == nil {
		if rows, err := parseRegistrations(out); err == nil {
			ss.p.tr.applyRegistrations(rows, ss.p.tr.st.now())
		} else {
			s.log.Debug("show registrations", "error", err)
		}
	}
	list := func() bool {
		err := ss.listCallcenter(ctx)
		switch {
		case errors.Is(err, ErrNoCallcenter):
			s.log.Debug("no call-center queues", "error", err)
			return false
		case err != nil:
			s.log.Debug("call-center lists", "error", err)
		}
		return ctx.Err() == nil
	}
	if !list() {
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
			if !list() {
				return
			}
		}
	}
}

// passOn sets the CUSTOM subclasses of the state's own events (a
// registration, callcenter::info) that also pass on to subscribers as
// user events: those the configuration asks for (custom_events).
func (tr *Tracker) passOn(subclasses []string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.custom = map[string]bool{}
	for _, s := range subclasses {
		tr.custom[s] = true
	}
}

// passedOn passes a CUSTOM event the state handled on as a user event
// when wanted; mu held on entry.
func (tr *Tracker) passedOn(e Event) {
	if tr.custom == nil || tr.custom[e[hSubclass]] {
		tr.userEvent(e)
	}
}

// abandoned ends a call whose caller hung up waiting in a queue;
// mu held on entry.
func (tr *Tracker) abandoned(ci *callInfo, e Event) {
	end := orNow(e.Time())
	wait := int64(end.Sub(ci.queueJoined) / time.Second)
	if ci.queueJoined.IsZero() || wait < 0 {
		wait = 0
	}
	w := strconv.FormatInt(wait, 10)
	tr.t.Update(ci.key, func(c *monitor.Call) {
		// mod_callcenter answered the caller itself to play its music:
		// nobody took the call.
		c.Answered = time.Time{}
		vars := make(map[string]string, len(c.Vars)+1)
		for k, v := range c.Vars {
			vars[k] = v
		}
		vars["queue_wait"] = w
		c.Vars = vars
	})
	tr.t.End(ci.key, monitor.Ending{Reason: monitor.ReasonAbandoned, Cause: fmt.Sprintf("waited %s s in queue %s", w, ci.queue), At: e.Time()})
}
