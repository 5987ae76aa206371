package lanewake

import "sync"

// Waiters are the deliveries waiting for their lane's turn in this process
// (activities.AcquireTurn). Waking one costs a channel send where a turn
// signal costs a Temporal write and a workflow task, and it reaches a
// workflow whose task the wait holds open, which a signal does not.
type Waiters struct {
	mu  sync.Mutex
	m   map[key][]*Waiter
	n   int
	max int
}

// key names a delivery; a Waiter also has its seq.
type key struct{ appID, eventID, endpointID string }

// Waiter is one delivery waiting for its turn.
type Waiter struct {
	key    key
	seq    int64
	woken  chan struct{} // one buffered wake
	parked bool          // its first answer was to wait (under Waiters.mu)
}

// Woken receives a wake: the waiter asks the store again.
func (w *Waiter) Woken() <-chan struct{} { return w.woken }

// wake leaves w a wake, unless one is already waiting for it.
func (w *Waiter) wake() {
	select {
	case w.woken <- struct{}{}:
	default:
	}
}

// NewWaiters makes a registry that holds at most max waiters at once.
func NewWaiters(max int) *Waiters {
	return &Waiters{m: map[key][]*Waiter{}, max: max}
}

// Add registers a waiter for the delivery d names, or returns nil when as
// many as may already wait.
func (t *Waiters) Add(d Wake) *Waiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n >= t.max {
		return nil
	}
	k := key{d.AppID, d.EventID, d.EndpointID}
	w := &Waiter{key: k, seq: d.Seq, woken: make(chan struct{}, 1)}
	t.m[k] = append(t.m[k], w)
	t.n++
	return w
}

// Remove takes w out of the registry.
func (t *Waiters) Remove(w *Waiter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ws := t.m[w.key]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			t.n--
			break
		}
	}
	if len(ws) == 0 {
		delete(t.m, w.key)
	} else {
		t.m[w.key] = ws
	}
}

// Park notes that w's first answer was to wait.
func (t *Waiters) Park(w *Waiter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w.parked = true
}

// Waits reports whether a waiter of the delivery d names, at d.Seq, waits
// past its first answer now: a turn passed to it wakes it at once.
func (t *Waiters) Waits(d Wake) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.m[key{d.AppID, d.EventID, d.EndpointID}] {
		if w.parked && w.seq == d.Seq {
			return true
		}
	}
	return false
}

// Parked is how many waiters wait past their first answer now.
func (t *Waiters) Parked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, ws := range t.m {
		for _, w := range ws {
			if w.parked {
				n++
			}
		}
	}
	return n
}

// Wake wakes the waiters d names and reports whether there were any. A
// turn's wake names one delivery at its seq. A change to the store names
// what it changed and leaves the rest empty: Seq 0 is any seq, an empty
// EventID every event of the app (or of the endpoint), an empty EndpointID
// every endpoint. A woken waiter asks the store again before it leaves the
// registry, so one found here for a turn needs no turn signal.
func (t *Waiters) Wake(d Wake) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d.EventID != "" && d.EndpointID != "" {
		return wakeSeq(t.m[key{d.AppID, d.EventID, d.EndpointID}], d.Seq)
	}
	found := false
	for k, ws := range t.m {
		if k.appID == d.AppID && (d.EventID == "" || k.eventID == d.EventID) &&
			(d.EndpointID == "" || k.endpointID == d.EndpointID) && wakeSeq(ws, d.Seq) {
			found = true
		}
	}
	return found
}

// wakeSeq wakes the waiters of ws at seq (0: all of them).
func wakeSeq(ws []*Waiter, seq int64) bool {
	found := false
	for _, w := range ws {
		if seq == 0 || w.seq == seq {
			found = true
			w.wake()
		}
	}
	return found
}

// WakeAll wakes every waiter.
func (t *Waiters) WakeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ws := range t.m {
		for _, w := range ws {
			w.wake()
		}
	}
}
