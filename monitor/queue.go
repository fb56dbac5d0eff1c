package monitor

import (
	"slices"
	"time"
)

// QueueID identifies a queue across sources: the source name, a colon and
// the queue's name at the PBX.
type QueueID string

// MakeQueueID builds the QueueID of a source's queue.
func MakeQueueID(source SourceName, name string) QueueID {
	return QueueID(string(source) + ":" + name)
}

// Queue is a call queue (Asterisk app_queue, FreeSWITCH mod_callcenter) as
// it now is: the payload of a "queue" event, kept by the hub and in every
// snapshot. The slices are never changed once published (QueueTracker
// clones).
type Queue struct {
	ID     QueueID    `json:"id"`
	Source SourceName `json:"source"`
	// Name is the queue's name at the PBX ("support", "support@default").
	Name string `json:"name"`
	// Strategy is how the PBX picks a member (ringall, longest-idle-agent).
	Strategy string `json:"strategy,omitempty"`
	// Callers are the callers waiting, by position.
	Callers []QueueCaller `json:"callers"`
	// LongestWait is how long the first of Callers had waited, in seconds,
	// at Updated; a client adds the time since.
	LongestWait int64 `json:"longest_wait"`
	// Members are the queue's members (agents), by interface.
	Members []QueueMember `json:"members"`
	// Stats are the queue's totals and KPIs.
	Stats QueueStats `json:"stats"`
	// Updated is when this state was made.
	Updated time.Time `json:"updated"`
	// Removed is set on the last event of a queue the source no longer
	// has: the hub lets it go.
	Removed bool `json:"removed,omitempty"`
}

// QueueCaller is one caller waiting in a queue.
type QueueCaller struct {
	// ID is the source's key of the waiting caller (an Asterisk Uniqueid,
	// a FreeSWITCH member UUID).
	ID string `json:"id"`
	// Call is the call, when the source tracks it.
	Call CallID `json:"call,omitempty"`
	// Position counts from 1.
	Position int    `json:"position"`
	Number   string `json:"number,omitempty"`
	Name     string `json:"name,omitempty"`
	// Private is set when the caller withheld their number.
	Private bool `json:"private,omitempty"`
	// Joined is when they entered the queue.
	Joined time.Time `json:"joined"`
}

// QueueMember is one member (agent) of a queue.
type QueueMember struct {
	// Interface is how the PBX knows the member: an Asterisk interface
	// ("PJSIP/201", "Local/201@from-queue/n"), a FreeSWITCH agent name.
	Interface string `json:"interface"`
	// Name is the member's name (Asterisk MemberName), when it has one.
	Name string `json:"name,omitempty"`
	// State is the member's device state.
	State DeviceState `json:"state"`
	// Paused is set while the member takes no queue calls; PauseReason
	// is the reason given when paused (kept while paused, even where the
	// PBX sends none on later events), PausedSince when.
	Paused      bool      `json:"paused"`
	PauseReason string    `json:"pause_reason,omitempty"`
	PausedSince time.Time `json:"paused_since,omitzero"`
	// Membership is static, dynamic or realtime (Asterisk), or the agent
	// type (FreeSWITCH callback, uuid-standby).
	Membership string `json:"membership,omitempty"`
	Penalty    int    `json:"penalty,omitempty"`
	// CallsTaken counts the queue calls the member answered.
	CallsTaken int `json:"calls_taken"`
	// LastCall is when the member's last queue call ended.
	LastCall time.Time `json:"last_call,omitzero"`
	// InCall is set while the member is on a queue call, Call naming it
	// when known.
	InCall bool   `json:"in_call,omitempty"`
	Call   CallID `json:"call,omitempty"`
}

// Present reports whether the queue stays in the hub's state.
func (q *Queue) Present() bool { return !q.Removed }

// Clone returns a deep copy of q, safe to change.
func (q *Queue) Clone() Queue {
	out := *q
	out.Callers = slices.Clone(q.Callers)
	out.Members = slices.Clone(q.Members)
	return out
}

// Caller returns the waiting caller with source key id, or nil.
func (q *Queue) Caller(id string) *QueueCaller {
	for i := range q.Callers {
		if q.Callers[i].ID == id {
			return &q.Callers[i]
		}
	}
	return nil
}

// AddCaller puts c in the queue at c.Position (0 or beyond the end: last),
// or updates the caller with c's ID, and numbers the callers again.
func (q *Queue) AddCaller(c QueueCaller) {
	if i := slices.IndexFunc(q.Callers, func(x QueueCaller) bool { return x.ID == c.ID }); i >= 0 {
		q.Callers = slices.Delete(q.Callers, i, i+1)
	}
	at := c.Position - 1
	if at < 0 || at > len(q.Callers) {
		at = len(q.Callers)
	}
	q.Callers = slices.Insert(q.Callers, at, c)
	q.renumber()
}

// RemoveCaller takes the caller with source key id out of the queue and
// reports whether it was there.
func (q *Queue) RemoveCaller(id string) (QueueCaller, bool) {
	i := slices.IndexFunc(q.Callers, func(x QueueCaller) bool { return x.ID == id })
	if i < 0 {
		return QueueCaller{}, false
	}
	c := q.Callers[i]
	q.Callers = slices.Delete(q.Callers, i, i+1)
	q.renumber()
	return c, true
}

func (q *Queue) renumber() {
	for i := range q.Callers {
		q.Callers[i].Position = i + 1
	}
}

// Member returns the member with interface iface, adding it (state
// unknown) when the queue has none.
func (q *Queue) Member(iface string) *QueueMember {
	for i := range q.Members {
		if q.Members[i].Interface == iface {
			return &q.Members[i]
		}
	}
	q.Members = append(q.Members, QueueMember{Interface: iface, State: DeviceUnknown})
	slices.SortFunc(q.Members, func(a, b QueueMember) int {
		switch {
		case a.Interface < b.Interface:
			return -1
		case a.Interface > b.Interface:
			return 1
		}
		return 0
	})
	for i := range q.Members {
		if q.Members[i].Interface == iface {
			return &q.Members[i]
		}
	}
	return nil
}

// FindMember returns the member with interface iface, or nil.
func (q *Queue) FindMember(iface string) *QueueMember {
	for i := range q.Members {
		if q.Members[i].Interface == iface {
			return &q.Members[i]
		}
	}
	return nil
}

// RemoveMember takes the member with interface iface out of the queue.
func (q *Queue) RemoveMember(iface string) bool {
	n := len(q.Members)
	q.Members = slices.DeleteFunc(q.Members, func(m QueueMember) bool { return m.Interface == iface })
	return len(q.Members) != n
}

// Pause sets the member's pause state. A reason is kept from the pause
// on: Asterisk sends none on unpause and on the member's later status
// events, so an empty reason while paused keeps the one given before.
func (m *QueueMember) Pause(paused bool, reason string, at time.Time) {
	switch {
	case !paused:
		m.Paused, m.PauseReason, m.PausedSince = false, "", time.Time{}
	case !m.Paused:
		m.Paused, m.PauseReason, m.PausedSince = true, reason, at
	case reason != "":
		m.PauseReason = reason
	}
}

// longestWait is how long the longest-waiting caller had waited at at.
func longestWait(callers []QueueCaller, at time.Time) int64 {
	var longest int64
	for _, c := range callers {
		if c.Joined.IsZero() {
			continue
		}
		if w := int64(at.Sub(c.Joined) / time.Second); w > longest {
			longest = w
		}
	}
	return longest
}

// sameQueue reports whether a and b show the same thing (Updated and
// LongestWait aside: they follow from the rest and the clock).
func sameQueue(a, b *Queue) bool {
	return a.Name == b.Name && a.Strategy == b.Strategy && a.Removed == b.Removed && a.Stats == b.Stats &&
		slices.Equal(a.Callers, b.Callers) && slices.Equal(a.Members, b.Members)
}
