package main

import (
	"context"
	"testing"
	"time"
)

// A worker killed with kill -9 while it delivers an ordered lane leaves
// its attempt noted in flight. The survivor that takes the lane over must
// tell that note from a POST still under way, or POST twice: it used to
// wait until the POST must have ended, the delivery timeout and 3 s
// (18.3 s in every round with a 15 s timeout), the lane standing still
// meanwhile. Now a note names its process, which beats every second, and
// one that has not beaten for 4 s is a dead one's: the lane moves again
// once the dead worker's workflow task times out (4 s) and its note lapses.
// Each round kills one of the two workers under a steady ordered load,
// the lane's holder as it happens (the API runs no worker), and measures
// the longest gap between the lane's receipts.
func TestProductionShapeLaneResumesAfterWorkerKill(t *testing.T) {
	s := startProdShape(t, "HERALD_EAGER_START=false", "HERALD_DELIVERY_TIMEOUT=15s")
	const resumes = 10 * time.Second
	for round := range 2 {
		l := newLoad(t, s, 30*time.Millisecond)
		wait := l.postInBackground("kill", 150)
		eventually(t, time.Minute, "ordered deliveries under way", func() bool { return l.ordered.count() >= 40 })
		w := s.Workers[round]
		w.Kill()
		killed := time.Now()
		wait()
		l.retryRejected(time.Minute)
		l.waitDelivered(3 * time.Minute)
		dups := l.check()
		rs := l.ordered.received()
		var gap time.Duration
		for i := 1; i < len(rs); i++ {
			gap = max(gap, rs[i].At.Sub(rs[i-1].At))
		}
		t.Logf("round %d: worker %d killed; the lane's longest gap %s; all delivered %s after the kill; %d duplicates",
			round, round+1, gap.Round(time.Millisecond), rs[len(rs)-1].At.Sub(killed).Round(time.Millisecond), dups)
		if gap > resumes {
			t.Errorf("round %d: the ordered lane stood still %s after a worker was killed, want under %s",
				round, gap.Round(time.Millisecond), resumes)
		}
		if err := s.Restart(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
}
