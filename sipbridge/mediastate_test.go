package sipbridge

import "testing"

// live is a machine after an answer with the given holds and far-end
// direction.
func live(local, remote bool, theirs Direction) mediaMachine {
	return mediaMachine{phase: phaseLive, localHold: local, remoteHold: remote, theirs: theirs}
}

func ours(o, t Direction) mediaStep {
	return mediaStep{exchange: true, kind: weOffered, ours: o, theirs: t}
}

func theirs(t Direction, o Direction) mediaStep {
	return mediaStep{exchange: true, kind: theyOffered, ours: o, theirs: t}
}

func TestMediaMachine(t *testing.T) {
	null := func(s mediaStep) mediaStep { s.null = true; return s }
	tests := []struct {
		name string
		from mediaMachine
		step mediaStep
		want MediaState
		// in and out are the directions the RTP leg forwards; watch is
		// whether the media timeout runs.
		in, out, watch bool
	}{
		// The answer of the call.
		{"before the answer", mediaMachine{}, mediaStep{}, MediaNone, false, false, false},
		{"answered sendrecv", mediaMachine{}, ours(SendRecv, SendRecv), MediaActive, true, true, true},
		{"answered by a holder", mediaMachine{}, ours(SendRecv, SendOnly), MediaRemoteHold, true, false, false},
		{"called on hold", mediaMachine{}, theirs(SendOnly, RecvOnly), MediaRemoteHold, true, false, false},
		{"called inactive", mediaMachine{}, theirs(Inactive, Inactive), MediaRemoteHold, false, false, false},
		// Our hold and resume.
		{"we hold, they take it", live(false, false, SendRecv), ours(SendOnly, RecvOnly), MediaLocalHold, false, false, false},
		{"we hold, they answer inactive", live(false, false, SendRecv), ours(SendOnly, Inactive), MediaLocalHold, false, false, false},
		{"we hold a holder (inactive)", live(false, true, SendOnly), ours(Inactive, Inactive), MediaInactive, false, false, false},
		{"we resume", live(true, false, RecvOnly), ours(SendRecv, SendRecv), MediaActive, true, true, true},
		{"we resume, they still hold", live(true, true, Inactive), ours(SendRecv, SendOnly), MediaRemoteHold, true, false, false},
		{"we resume, they still hold inactive", live(true, true, Inactive), ours(SendRecv, Inactive), MediaRemoteHold, false, false, false},
		{"they hold in their answer", live(false, false, SendRecv), ours(SendRecv, SendOnly), MediaRemoteHold, true, false, false},
		{"they refuse our full offer", live(false, false, SendRecv), ours(SendRecv, Inactive), MediaRemoteHold, false, false, false},
		{"answer with c=0.0.0.0", live(false, false, SendRecv), null(ours(SendRecv, SendRecv)), MediaRemoteHold, true, false, false},
		{"they only listen to our offer", live(false, false, SendRecv), ours(SendRecv, RecvOnly), MediaActive, false, true, false},
		{"sendrecv answer to our hold (invalid)", live(false, false, SendRecv), ours(SendOnly, SendRecv), MediaLocalHold, false, false, false},
		{"our refresh while they hold", live(false, true, SendOnly), ours(SendRecv, SendOnly), MediaRemoteHold, true, false, false},
		{"our refresh while we hold", live(true, false, RecvOnly), ours(SendOnly, RecvOnly), MediaLocalHold, false, false, false},
		// Their hold and resume.
		{"they hold (sendonly)", live(false, false, SendRecv), theirs(SendOnly, RecvOnly), MediaRemoteHold, true, false, false},
		{"they hold (inactive) while we are active", live(false, false, SendRecv), theirs(Inactive, Inactive), MediaRemoteHold, false, false, false},
		{"they hold (c=0.0.0.0)", live(false, false, SendRecv), null(theirs(SendRecv, SendRecv)), MediaRemoteHold, true, false, false},
		{"they hold (c=0.0.0.0 sendonly)", live(false, false, SendRecv), null(theirs(SendOnly, RecvOnly)), MediaRemoteHold, true, false, false},
		{"they resume", live(false, true, SendOnly), theirs(SendRecv, SendRecv), MediaActive, true, true, true},
		{"they resume from c=0.0.0.0", mediaMachine{phase: phaseLive, remoteHold: true, theirs: SendRecv, null: true}, theirs(SendRecv, SendRecv), MediaActive, true, true, true},
		{"they hold while we hold", live(true, false, RecvOnly), theirs(SendOnly, Inactive), MediaInactive, false, false, false},
		{"they go inactive while we hold", live(true, false, RecvOnly), theirs(Inactive, Inactive), MediaInactive, false, false, false},
		{"they resume while we hold", live(true, true, Inactive), theirs(SendRecv, SendOnly), MediaLocalHold, false, false, false},
		{"they offer recvonly (listen only)", live(false, false, SendRecv), theirs(RecvOnly, SendOnly), MediaActive, false, true, false},
		{"their refresh, nothing changes", live(false, false, SendRecv), theirs(SendRecv, SendRecv), MediaActive, true, true, true},
		{"their refresh while they hold", live(false, true, SendOnly), theirs(SendOnly, RecvOnly), MediaRemoteHold, true, false, false},
		// Lost and ended.
		{"rtp timeout", live(false, false, SendRecv), mediaStep{lost: true}, MediaError, false, false, false},
		{"lost before the answer stays none", mediaMachine{}, mediaStep{lost: true}, MediaNone, false, false, false},
		{"exchange after the loss", mediaMachine{phase: phaseFailed, theirs: SendRecv}, ours(SendRecv, SendRecv), MediaError, false, false, false},
		{"ended", live(true, true, Inactive), mediaStep{ended: true}, MediaNone, false, false, false},
		{"ended after the loss", mediaMachine{phase: phaseFailed}, mediaStep{ended: true}, MediaNone, false, false, false},
		{"exchange after the end", mediaMachine{phase: phaseOver}, ours(SendRecv, SendRecv), MediaNone, false, false, false},
		{"ended before the answer", mediaMachine{}, mediaStep{ended: true}, MediaNone, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.from.next(tt.step)
			if got := m.state(); got != tt.want {
				t.Errorf("state %s, want %s (machine %+v)", got, tt.want, m)
			}
			if m.forwardIn() != tt.in || m.forwardOut() != tt.out || m.expectRTP() != tt.watch {
				t.Errorf("in %v out %v watch %v, want %v %v %v", m.forwardIn(), m.forwardOut(), m.expectRTP(), tt.in, tt.out, tt.watch)
			}
			if held := tt.want == MediaLocalHold || tt.want == MediaRemoteHold || tt.want == MediaInactive; m.held() != held {
				t.Errorf("held %v, want %v", m.held(), held)
			}
		})
	}
}

// TestMediaMachineSequence walks one call through hold by both sides in
// both orders, the way the directions of real exchanges come.
func TestMediaMachineSequence(t *testing.T) {
	steps := []struct {
		step mediaStep
		want MediaState
	}{
		{ours(SendRecv, SendRecv), MediaActive},
		{ours(offerDirection(true, false), RecvOnly), MediaLocalHold},
		{theirs(SendOnly, answerDirection(SendOnly, true)), MediaInactive},
		{ours(offerDirection(false, true), SendOnly), MediaRemoteHold},
		{theirs(SendRecv, answerDirection(SendRecv, false)), MediaActive},
		{theirs(Inactive, answerDirection(Inactive, false)), MediaRemoteHold},
		{ours(offerDirection(true, true), Inactive), MediaInactive},
		{theirs(SendRecv, answerDirection(SendRecv, true)), MediaLocalHold},
		{ours(offerDirection(false, false), SendRecv), MediaActive},
		{mediaStep{ended: true}, MediaNone},
	}
	var m mediaMachine
	for i, s := range steps {
		m = m.next(s.step)
		if got := m.state(); got != s.want {
			t.Fatalf("step %d (%+v): %s, want %s", i, s.step, got, s.want)
		}
	}
}

func TestOfferAndAnswerDirection(t *testing.T) {
	offers := []struct {
		local, remote bool
		want          Direction
	}{
		{false, false, SendRecv},
		{false, true, SendRecv},
		{true, false, SendOnly},
		{true, true, Inactive},
	}
	for _, tt := range offers {
		if got := offerDirection(tt.local, tt.remote); got != tt.want {
			t.Errorf("offerDirection(%v, %v) = %s, want %s", tt.local, tt.remote, got, tt.want)
		}
	}
	answers := []struct {
		offer Direction
		hold  bool
		want  Direction
	}{
		{SendRecv, false, SendRecv},
		{SendOnly, false, RecvOnly},
		{RecvOnly, false, SendOnly},
		{Inactive, false, Inactive},
		{SendRecv, true, SendOnly},
		{SendOnly, true, Inactive},
		{RecvOnly, true, SendOnly},
		{Inactive, true, Inactive},
	}
	for _, tt := range answers {
		if got := answerDirection(tt.offer, tt.hold); got != tt.want {
			t.Errorf("answerDirection(%s, %v) = %s, want %s", tt.offer, tt.hold, got, tt.want)
		}
	}
}
