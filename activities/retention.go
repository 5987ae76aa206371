package activities

import (
	"context"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// Purge tuning: batches keep each transaction (and SQLite's one writer)
// short; the round stops after purgeBudget so the local activity ends well
// within its timeout, and says there is more.
const (
	purgeBatch  = 500
	purgeBudget = 20 * time.Second
)

// DefaultRetention is the contract's default HERALD_RETENTION.
const DefaultRetention = 7 * 24 * time.Hour

// Purge removes the events older than the retention (Config.Retention),
// with their deliveries and attempts, batch by batch.
func (a *Activities) Purge(ctx context.Context) (schemas.PurgeResult, error) {
	retention := a.cfg.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	cutoff := a.now().Add(-retention)
	started := time.Now()
	// A tenth of the retention between rounds keeps rows at most 10% past
	// it; within 10 s and an hour.
	res := schemas.PurgeResult{Every: min(max(retention/10, 10*time.Second), time.Hour)}
	for {
		n, err := a.store.PurgeBefore(ctx, cutoff, purgeBatch)
		res.Events += n
		if err != nil {
			return res, err
		}
		if n < purgeBatch {
			break
		}
		if time.Since(started) > purgeBudget {
			res.More = true
			break
		}
	}
	if res.Events > 0 {
		a.log.Info("removed events past retention", "events", res.Events, "older_than", cutoff, "more", res.More)
	}
	return res, nil
}
