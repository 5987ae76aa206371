package activities

// Waiting is how many AcquireTurn calls wait in this process now, past
// their first answer: a turn passed from here on wakes them.
func (a *Activities) Waiting() int { return a.waiters.Parked() }

// SetDrainLimits sets how many deliveries one drain makes at most, and from
// how many on it chooses an heir to hand its lane to.
func (a *Activities) SetDrainLimits(max, heirFrom int) {
	a.drains = drainLimits{max: max, heirFrom: heirFrom}
}
