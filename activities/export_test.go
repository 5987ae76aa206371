package activities

// Waiting is how many AcquireTurn calls wait in this process now, past
// their first answer: a turn passed from here on wakes them.
func (a *Activities) Waiting() int { return a.waiters.Parked() }
