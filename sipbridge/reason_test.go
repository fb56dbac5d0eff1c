package sipbridge

import (
	"errors"
	"reflect"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

func TestParseReason(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []ReasonValue
		err  bool
	}{
		{in: `SIP ;cause=200 ;text="Call completed elsewhere"`, want: []ReasonValue{{"SIP", 200, "Call completed elsewhere"}}},
		{in: `sip;cause=200;text="Call completed elsewhere", Q.850;cause=26`, want: []ReasonValue{{"SIP", 200, "Call completed elsewhere"}, {"Q.850", 26, ""}}},
		{in: "Q.850 ; CAUSE = 16 ;\ttext=\"a, b; c\"", want: []ReasonValue{{"Q.850", 16, "a, b; c"}}},
		{in: `SIP;cause=487;text="Request \"Terminated\""`, want: []ReasonValue{{"SIP", 487, `Request "Terminated"`}}},
		{in: `preemption ;cause=1 ;text=UA-preemption`, want: []ReasonValue{{"PREEMPTION", 1, "UA-preemption"}}},
		{in: `SIP;cause=200;foo;bar=baz`, want: []ReasonValue{{"SIP", 200, ""}}},
		{in: `SIP`, want: []ReasonValue{{"SIP", 0, ""}}},
		{in: ``, err: true},
		{in: `;cause=200`, err: true},
		{in: `SIP;cause=abc`, err: true},
		{in: `SIP;cause=-1`, err: true},
		{in: `SIP;cause=1000`, err: true},
		{in: `SIP;cause=200;cause=486`, err: true},
		{in: `SIP;cause=200;text="open`, err: true},
		{in: `SIP;cause=200;text="a\`, err: true},
		{in: "SIP;text=\"a\x01b\"", err: true},
		{in: `SIP;cause=200,`, err: true},
		{in: `SIP;cause=200 Q.850`, err: true},
		{in: `SIP;=200`, err: true},
		{in: `SIP;cause=`, err: true},
		{in: `SIP;text="` + string(make([]byte, maxReasonLen)) + `"`, err: true},
	} {
		got, err := parseReason(tc.in)
		if tc.err {
			if !errors.Is(err, ErrBadReason) {
				t.Errorf("parseReason(%q) = %v, %v; want ErrBadReason", tc.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseReason(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestAnsweredElsewhere(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`SIP;cause=200;text="Call completed elsewhere"`, true},
		{`SIP;cause=200`, true},
		{`Q.850;cause=26`, true},
		{`Q.850;cause=16;text="Call completed elsewhere"`, true},
		{`Q.850;cause=16;text="ANSWERED ELSEWHERE"`, true},
		{`Q.850;cause=16;text="Normal call clearing"`, false},
		{`Q.850;cause=16`, false},
		{`SIP;cause=487`, false},
		{`SIP;cause=600;text="Busy Everywhere"`, false},
		{`Q.850;cause=200`, false},
		{`preemption;cause=200`, false},
		{`Q.850;cause=31, SIP;cause=200`, true},
	} {
		rs, err := parseReason(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := answeredElsewhere(rs); got != tc.want {
			t.Errorf("answeredElsewhere(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestCancelEnding(t *testing.T) {
	cancel := func(reasons ...string) *sip.Request {
		r := sip.NewRequest(sip.CANCEL, sip.Uri{Scheme: "sip", User: "1000", Host: "127.0.0.1"})
		for _, v := range reasons {
			r.AppendHeader(sip.NewHeader("Reason", v))
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		req     *sip.Request
		want    monitor.Reason
		wantErr bool
	}{
		{"no reason", cancel(), monitor.ReasonCancelled, false},
		{"completed elsewhere", cancel(`SIP ;cause=200 ;text="Call completed elsewhere"`), monitor.ReasonAnsweredElsewhere, false},
		{"q850 non-selected", cancel(`Q.850;cause=26`), monitor.ReasonAnsweredElsewhere, false},
		{"caller gave up", cancel(`SIP;cause=487;text="ORIGINATOR_CANCEL"`), monitor.ReasonCancelled, false},
		// A broken value beside a good one: the good one still counts.
		{"bad and good", cancel(`;;`, `SIP;cause=200`), monitor.ReasonAnsweredElsewhere, true},
		{"bad only", cancel(`SIP;cause=x`), monitor.ReasonCancelled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := messageReasons(tc.req)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrBadReason)) {
				t.Errorf("messageReasons err = %v, want error %v", err, tc.wantErr)
			}
			ev := cancelEnding(rs)
			if ev.Reason != tc.want || ev.Status != sip.StatusRequestTerminated {
				t.Errorf("cancelEnding = %+v, want %s", ev, tc.want)
			}
		})
	}
}
