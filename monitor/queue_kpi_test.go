package monitor

import (
	"encoding/json"
	"testing"
	"time"
)

// The figures below are worked out by hand.
func TestServiceLevels(t *testing.T) {
	tests := []struct {
		name                                string
		completed, completedIn, aband, abIn int
		sl, sl2, rate                       float64
		slOK, sl2OK, rateOK                 bool
	}{
		{"no calls at all", 0, 0, 0, 0, 0, 0, 0, false, false, false},
		{"96 of 120 answered within T, 12 of 30 gave up within T", 120, 96, 30, 12, 80, 72, 20, true, true, true},
		{"every call within T", 10, 10, 0, 0, 100, 100, 0, true, true, true},
		{"only abandoned calls: SL undefined, SL2 counts the quick ones", 0, 0, 4, 1, 0, 25, 100, false, true, true},
		{"2 of 3 within T", 3, 2, 0, 0, 200.0 / 3, 200.0 / 3, 0, true, true, true},
		{"one slow answer, one quick hang-up", 1, 0, 1, 1, 0, 50, 50, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if sl, ok := ServiceLevel1(tt.completed, tt.completedIn); ok != tt.slOK || sl != tt.sl {
				t.Errorf("SL = %v, %v; want %v, %v", sl, ok, tt.sl, tt.slOK)
			}
			if sl2, ok := ServiceLevel2(tt.completed, tt.completedIn, tt.aband, tt.abIn); ok != tt.sl2OK || sl2 != tt.sl2 {
				t.Errorf("SL2 = %v, %v; want %v, %v", sl2, ok, tt.sl2, tt.sl2OK)
			}
			if r, ok := AbandonRate(tt.completed, tt.aband); ok != tt.rateOK || r != tt.rate {
				t.Errorf("abandon rate = %v, %v; want %v, %v", r, ok, tt.rate, tt.rateOK)
			}
		})
	}
}

func TestAverage(t *testing.T) {
	tests := []struct {
		total int64
		n     int
		want  float64
		ok    bool
	}{
		{1800, 120, 15, true},
		{10, 4, 2.5, true},
		{0, 0, 0, false},
		{5, -1, 0, false},
	}
	for _, tt := range tests {
		if got, ok := Average(tt.total, tt.n); got != tt.want || ok != tt.ok {
			t.Errorf("Average(%d, %d) = %v, %v; want %v, %v", tt.total, tt.n, got, ok, tt.want, tt.ok)
		}
	}
}

func TestQueueStatsCounting(t *testing.T) {
	s := QueueStats{ServiceLevel: 20}
	s.Complete(20*time.Second, 100*time.Second) // exactly T: within
	s.Complete(21*time.Second, 60*time.Second)  // just over
	s.Complete(4*time.Second, 200*time.Second)
	s.Abandon(5 * time.Second)
	s.Abandon(45 * time.Second)
	got := s.WithKPIs()
	want := QueueStats{ServiceLevel: 20, Completed: 3, CompletedInSL: 2, Abandoned: 2, AbandonedInSL: 1,
		HoldTotal: 45, TalkTotal: 360,
		// SL 2/3 = 66.7 %, SL2 (1+2)/(3+2) = 60 %, abandon 2/5 = 40 %,
		// hold 45/3 = 15 s, talk 360/3 = 120 s.
		SL: Known(66.7), SL2: Known(60), AbandonRate: Known(40), AvgHold: Known(15), AvgTalk: Known(120)}
	if got != want {
		t.Fatalf("stats\n%+v\nwant\n%+v", got, want)
	}
	noT := QueueStats{}
	noT.Complete(time.Second, time.Second)
	noT.Abandon(time.Second)
	if noT.CompletedInSL != 0 || noT.AbandonedInSL != 0 {
		t.Fatalf("a queue without threshold counted calls within it: %+v", noT)
	}
}

func TestQueueStatsFromPercent(t *testing.T) {
	tests := []struct {
		name             string
		completed, aband int
		sl, sl2          float64
		wantIn, wantAbIn int
	}{
		{"Asterisk's 80.0 and 72.0 of 120 and 30", 120, 30, 80, 72, 96, 12},
		{"66.7 of 3 rounds to 2", 3, 0, 66.7, 66.7, 2, 0},
		{"no ServicelevelPerf2: abandoned within T kept", 10, 5, 50, -1, 5, 3},
		{"nonsense over 100 is clamped", 4, 1, 250, 250, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := QueueStats{Completed: tt.completed, Abandoned: tt.aband, AbandonedInSL: 3}
			s.FromPercent(tt.sl, tt.sl2)
			if s.CompletedInSL != tt.wantIn || s.AbandonedInSL != tt.wantAbIn {
				t.Fatalf("in SL = %d, abandoned in SL = %d; want %d, %d", s.CompletedInSL, s.AbandonedInSL, tt.wantIn, tt.wantAbIn)
			}
		})
	}
}

func TestKPIJSON(t *testing.T) {
	for _, tt := range []struct {
		k    KPI
		want string
	}{{KPI{}, "null"}, {Known(80), "80"}, {Known(66.66666), "66.7"}, {Known(0), "0"}} {
		b, err := json.Marshal(tt.k)
		if err != nil || string(b) != tt.want {
			t.Errorf("%+v = %s, %v; want %s", tt.k, b, err, tt.want)
		}
		var back KPI
		if err := json.Unmarshal(b, &back); err != nil || back != tt.k {
			t.Errorf("%s decoded to %+v, %v", b, back, err)
		}
	}
}
