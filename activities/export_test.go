package activities

// Waiting is how many AcquireTurn calls wait in this process now, past
// their first answer: a turn passed from here on wakes them.
func (a *Activities) Waiting() int {
	a.waiters.mu.Lock()
	defer a.waiters.mu.Unlock()
	n := 0
	for _, ws := range a.waiters.m {
		for _, w := range ws {
			if w.parked {
				n++
			}
		}
	}
	return n
}
