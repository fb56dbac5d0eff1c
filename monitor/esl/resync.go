package esl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard/monitor"
)

// channelRow is one row of `show channels as json`.
type channelRow struct {
	UUID         string `json:"uuid"`
	Direction    string `json:"direction"`
	CreatedEpoch string `json:"created_epoch"`
	Name         string `json:"name"`
	CIDName      string `json:"cid_name"`
	CIDNum       string `json:"cid_num"`
	Dest         string `json:"dest"`
	Context      string `json:"context"`
	CallState    string `json:"callstate"`
	CalleeName   string `json:"callee_name"`
	CalleeNum    string `json:"callee_num"`
	CallUUID     string `json:"call_uuid"`
}

// parseChannels decodes the output of `show channels as json`; with no
// channels FreeSWITCH prints {"row_count":0}.
func parseChannels(out string) ([]channelRow, error) {
	var res struct {
		RowCount int          `json:"row_count"`
		Rows     []channelRow `json:"rows"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil {
		return nil, fmt.Errorf("esl show channels: %w", err)
	}
	return res.Rows, nil
}

func (r channelRow) event() Event {
	e := Event{hEventName: "CHANNEL_DATA", hUniqueID: r.UUID, hCallUUID: r.CallUUID, hDirection: r.Direction,
		hChannelName: r.Name, hCallerNumber: r.CIDNum, hCallerName: r.CIDName, hDestination: r.Dest,
		hCalleeNumber: r.CalleeNum, hCalleeName: r.CalleeName, hContext: r.Context, hCallState: r.CallState}
	if s, err := strconv.ParseInt(r.CreatedEpoch, 10, 64); err == nil && s > 0 {
		e[hTimestamp] = strconv.FormatInt(s*1_000_000, 10)
	}
	if r.CallState == "ACTIVE" || r.CallState == "HELD" {
		e[hAnswerState] = "answered"
	}
	return e
}

// resync rebuilds the picture from the channels FreeSWITCH has now: legs
// that hung up while the link was down end (and their calls with them, as
// failed "ended while disconnected"), legs still up go on as they were,
// channels not yet known join or start calls. Each call is published
// once, as the resync leaves it (a call re-created here is started, then
// answered).
func (tr *Tracker) resync(rows []channelRow) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.t.Batch(func() { tr.resyncLocked(rows) })
}

// resyncLocked is resync's work; tr.mu held.
func (tr *Tracker) resyncLocked(rows []channelRow) {
	live := make(map[string]bool, len(rows))
	for _, r := range rows {
		live[r.UUID] = true
	}
	for uid, l := range tr.legs {
		if !live[uid] {
			l.ended = true
		}
	}
	for key, ci := range tr.calls {
		gone := true
		for _, l := range ci.legs {
			gone = gone && l.ended
		}
		if gone {
			for _, l := range ci.legs {
				delete(tr.legs, l.uuid)
			}
			delete(tr.calls, key)
		} else {
			tr.ring(ci)
		}
	}
	// Calls no live leg backs end: how went unseen, so they are failed
	// rather than given a guessed reason.
	tr.t.Retain(func(key string) bool { return tr.calls[key] != nil }, monitor.EndedWhileDisconnected)
	// A-legs first, so B-legs find the call they belong to.
	for pass := 0; pass < 2; pass++ {
		for _, r := range rows {
			isA := r.CallUUID == "" || r.CallUUID == r.UUID
			if (pass == 0) != isA || tr.legs[r.UUID] != nil {
				continue
			}
			e := r.event()
			tr.create(e)
			switch r.CallState {
			case "ACTIVE":
				tr.answer(e)
			case "HELD":
				tr.answer(e)
				tr.hold(e)
			case "RINGING", "EARLY":
				tr.progress(e)
			}
		}
	}
}

// endAll ends every call with e and forgets every leg: the link stayed
// down longer than its grace period, or the source stops.
func (tr *Tracker) endAll(e monitor.Ending) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.legs = map[string]*leg{}
	tr.calls = map[string]*callInfo{}
	return tr.t.EndAll(e)
}
