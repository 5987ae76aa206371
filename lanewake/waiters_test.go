package lanewake

import (
	"fmt"
	"testing"
)

// A wake reaches the waiters it names and no other: a turn names one
// delivery at its seq; a change to the store leaves fields empty to name
// every delivery of an event, an endpoint or an app.
func TestWaitersWakeWhatTheWakeNames(t *testing.T) {
	deliveries := []Wake{
		{"app-1", "ev-1", "ep-1", 1},
		{"app-1", "ev-1", "ep-2", 1},
		{"app-1", "ev-2", "ep-1", 2},
		{"app-2", "ev-1", "ep-1", 1},
	}
	cases := []struct {
		wake Wake
		want []bool // woken, per delivery
	}{
		{Wake{"app-1", "ev-1", "ep-1", 1}, []bool{true, false, false, false}},
		{Wake{"app-1", "ev-1", "ep-1", 2}, []bool{false, false, false, false}}, // another seq: requeued since
		{Wake{AppID: "app-1", EventID: "ev-1", EndpointID: "ep-1"}, []bool{true, false, false, false}},
		{Wake{AppID: "app-1", EventID: "ev-1"}, []bool{true, true, false, false}},    // a cancel or replay of an event
		{Wake{AppID: "app-1", EndpointID: "ep-1"}, []bool{true, false, true, false}}, // a deleted endpoint
		{Wake{AppID: "app-1"}, []bool{true, true, true, false}},                      // a deleted app
		{Wake{AppID: "app-3"}, []bool{false, false, false, false}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.wake), func(t *testing.T) {
			ws := NewWaiters(10)
			waiters := make([]*Waiter, len(deliveries))
			for i, d := range deliveries {
				waiters[i] = ws.Add(d)
			}
			anyWoken := false
			for _, want := range c.want {
				anyWoken = anyWoken || want
			}
			if got := ws.Wake(c.wake); got != anyWoken {
				t.Fatalf("Wake reported %v, want %v", got, anyWoken)
			}
			for i, w := range waiters {
				select {
				case <-w.Woken():
					if !c.want[i] {
						t.Errorf("%v woken", deliveries[i])
					}
				default:
					if c.want[i] {
						t.Errorf("%v not woken", deliveries[i])
					}
				}
			}
		})
	}
}

// The registry holds at most its bound; a removed waiter frees its place
// and is woken no more.
func TestWaitersBoundAndRemove(t *testing.T) {
	ws := NewWaiters(2)
	a := ws.Add(Wake{"app", "ev-a", "ep", 1})
	b := ws.Add(Wake{"app", "ev-b", "ep", 2})
	if a == nil || b == nil {
		t.Fatal("two waiters refused under a bound of two")
	}
	if ws.Add(Wake{"app", "ev-c", "ep", 3}) != nil {
		t.Fatal("a third waiter taken under a bound of two")
	}
	if ws.Waits(Wake{"app", "ev-a", "ep", 1}) {
		t.Fatal("a waiter that has not parked waits")
	}
	ws.Park(a)
	if n := ws.Parked(); n != 1 {
		t.Fatalf("parked = %d, want 1", n)
	}
	if !ws.Waits(Wake{"app", "ev-a", "ep", 1}) || ws.Waits(Wake{"app", "ev-a", "ep", 2}) || ws.Waits(Wake{"app", "ev-b", "ep", 2}) {
		t.Fatal("Waits names the wrong waiters")
	}
	ws.Remove(a)
	if ws.Wake(Wake{AppID: "app", EventID: "ev-a"}) {
		t.Fatal("a removed waiter was woken")
	}
	if ws.Parked() != 0 || ws.Add(Wake{"app", "ev-c", "ep", 3}) == nil {
		t.Fatal("a removed waiter kept its place")
	}
	ws.WakeAll()
	select {
	case <-b.Woken():
	default:
		t.Fatal("WakeAll did not wake a waiter")
	}
}
