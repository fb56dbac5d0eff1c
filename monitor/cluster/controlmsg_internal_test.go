package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

func TestDecodeControlRequest(t *testing.T) {
	tests := []struct {
		in   string
		want controlRequest // zero: ErrBadControl
	}{
		{`{"v":1,"op":"hangup","source":"pbx","node":"a","timeout_ms":5000,"call":"pbx:5.1"}`,
			controlRequest{V: 1, Op: monitor.ActionHangup, Source: "pbx", Node: "a", TimeoutMS: 5000, Call: "pbx:5.1"}},
		{`{"v":1,"op":"transfer","timeout_ms":1,"call":"c","to":"203","later":"ignored"}`,
			controlRequest{V: 1, Op: monitor.ActionTransfer, TimeoutMS: 1, Call: "c", To: "203"}},
		{`{"v":1,"op":"originate","timeout_ms":1,"from":"201","to":"0301234"}`,
			controlRequest{V: 1, Op: monitor.ActionOriginate, TimeoutMS: 1, From: "201", To: "0301234"}},
		{`{"v":1,"op":"queue-pause","timeout_ms":1,"queue":"q","member":"PJSIP/1","paused":true,"reason":"lunch"}`,
			controlRequest{V: 1, Op: monitor.ActionQueuePause, TimeoutMS: 1, Queue: "q", Member: "PJSIP/1", Paused: true, Reason: "lunch"}},
		{`{"v":1,"op":"queue-add","timeout_ms":1,"queue":"q","member":"PJSIP/1","name":"Cem"}`,
			controlRequest{V: 1, Op: monitor.ActionQueueAdd, TimeoutMS: 1, Queue: "q", Member: "PJSIP/1", Name: "Cem"}},
		{`{"v":1,"op":"queue-remove","timeout_ms":1,"queue":"q","member":"PJSIP/1"}`,
			controlRequest{V: 1, Op: monitor.ActionQueueRemove, TimeoutMS: 1, Queue: "q", Member: "PJSIP/1"}},
		{`{"v":2,"op":"hangup","timeout_ms":1,"call":"c"}`, controlRequest{}},
		{`{"op":"hangup","timeout_ms":1,"call":"c"}`, controlRequest{}},
		{`{"v":1,"op":"hangup","call":"c"}`, controlRequest{}},
		{`{"v":1,"op":"hangup","timeout_ms":-5,"call":"c"}`, controlRequest{}},
		{`{"v":1,"op":"hangup","timeout_ms":1}`, controlRequest{}},
		{`{"v":1,"op":"transfer","timeout_ms":1,"call":"c"}`, controlRequest{}},
		{`{"v":1,"op":"queue-add","timeout_ms":1,"queue":"q"}`, controlRequest{}},
		{`{"v":1,"op":"reboot","timeout_ms":1}`, controlRequest{}},
		{`{"v":1,"op":"hangup","timeout_ms":1,"call":"c"} {}`, controlRequest{}},
		{`{"v":1,"op":"hangup","timeout_ms":1,"call":"\xff"}`, controlRequest{}},
		{`[]`, controlRequest{}},
		{``, controlRequest{}},
	}
	for _, tt := range tests {
		got, err := decodeControlRequest([]byte(tt.in))
		if tt.want.V == 0 {
			if !errors.Is(err, ErrBadControl) {
				t.Errorf("%s: %+v, %v; want ErrBadControl", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// TestControlReplyKeepsErrors: an error sent as a reply reads back with
// its words and every class it had.
func TestControlReplyKeepsErrors(t *testing.T) {
	refused := fmt.Errorf("ami hangup PJSIP/1: %w: %w: No such channel", monitor.ErrNoSuchCall, monitor.ErrRefused)
	for _, sent := range []error{nil, refused, fmt.Errorf("ami originate: %w", context.DeadlineExceeded), errors.New("odd")} {
		b, err := json.Marshal(replyOf("a", sent))
		if err != nil {
			t.Fatal(err)
		}
		r, err := decodeControlReply(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got := r.err()
		if (got == nil) != (sent == nil) || r.Node != "a" {
			t.Fatalf("%v came back as %v from %q", sent, got, r.Node)
		}
		if sent == nil {
			continue
		}
		if got.Error() != sent.Error() {
			t.Errorf("words %q, want %q", got, sent)
		}
		for _, c := range errorClasses {
			if errors.Is(got, c.err) != errors.Is(sent, c.err) {
				t.Errorf("%v: errors.Is %v differs", sent, c.err)
			}
		}
	}
}

func TestControlRequestTimeout(t *testing.T) {
	for _, tt := range []struct {
		ms   int64
		want time.Duration
	}{{10_000, 9750 * time.Millisecond}, {1000, 900 * time.Millisecond}, {1, 900 * time.Microsecond}, {1 << 40, maxControlTimeout - 250*time.Millisecond}} {
		if got := (controlRequest{TimeoutMS: tt.ms}).timeout(); got != tt.want {
			t.Errorf("timeout_ms %d: %v, want %v", tt.ms, got, tt.want)
		}
	}
}

// FuzzDecodeControl: a request or reply, whatever another node or
// anything else on the subject sent, is read or refused with
// ErrBadControl; what is read encodes back to the same.
func FuzzDecodeControl(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"op":"hangup","source":"pbx","node":"a","timeout_ms":5000,"call":"pbx:5.1"}`,
		`{"v":1,"op":"queue-pause","timeout_ms":1,"queue":"q","member":"PJSIP/1","paused":true,"reason":"lunch"}`,
		`{"v":1,"op":"originate","timeout_ms":9223372036854775807,"from":"201","to":"0301234"}`,
		`{"v":1,"node":"b","error":"ami redirect: refused by the PBX: no","is":["refused","later-class"]}`,
		`{"v":1,"node":"b"}`,
		`{"v":1,"is":["refused"]}`,
		`{"v":2}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if req, err := decodeControlRequest(data); err != nil {
			if !errors.Is(err, ErrBadControl) {
				t.Fatalf("request error %v does not wrap ErrBadControl", err)
			}
		} else {
			b, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			again, err := decodeControlRequest(b)
			if err != nil || again != req {
				t.Fatalf("request %+v read back as %+v, %v", req, again, err)
			}
			_ = req.target()
			if d := req.timeout(); d <= 0 || d > maxControlTimeout {
				t.Fatalf("timeout %v", d)
			}
		}
		if r, err := decodeControlReply(data); err != nil {
			if !errors.Is(err, ErrBadControl) {
				t.Fatalf("reply error %v does not wrap ErrBadControl", err)
			}
		} else if e := r.err(); (e == nil) != (r.Error == "") {
			t.Fatalf("reply %+v: error %v", r, e)
		}
	})
}
