package schemas

import "time"

// RetentionWorkflowName is the workflow that removes events past
// HERALD_RETENTION; RetentionWorkflowID is its one instance.
const (
	RetentionWorkflowName = "HeraldRetention"
	RetentionWorkflowID   = "herald/retention"
	ActivityPurge         = "Purge"
)

// RetentionInput starts the retention workflow. How old is too old is the
// activity's configuration, not the input, so that a changed
// HERALD_RETENTION applies at the next round without restarting the workflow.
type RetentionInput struct {
	Every time.Duration `json:"every"` // between rounds; 0: an hour
}

// PurgeResult is what one round of removal did.
type PurgeResult struct {
	Events int  `json:"events"`         // events removed, with their deliveries and attempts
	More   bool `json:"more,omitempty"` // stopped early: more is due
	// Every is the wait before the next round, from the configured
	// retention (0: RetentionInput.Every).
	Every time.Duration `json:"every,omitempty"`
}
