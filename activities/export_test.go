package activities

// Waiting is how many AcquireTurn calls wait in this process now.
func (a *Activities) Waiting() int {
	a.waiters.mu.Lock()
	defer a.waiters.mu.Unlock()
	return a.waiters.n
}
