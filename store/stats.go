package store

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// EndpointStats is an endpoint's health over [Since, Until). Deliveries
// count by when they became final (pending ones by their event's creation);
// attempts and latency by when they started. Buckets are an hour each from
// Since, so they add up to Counts.
type EndpointStats struct {
	Since    time.Time      `json:"since"`
	Until    time.Time      `json:"until"`
	Counts   DeliveryCounts `json:"counts"`
	Attempts AttemptCounts  `json:"attempts"`
	Latency  Latency        `json:"latency_ms"`
	Buckets  []StatsBucket  `json:"buckets"`
}

// DeliveryCounts counts deliveries by status.
type DeliveryCounts struct {
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
	Pending   int `json:"pending"`
}

// AttemptCounts counts attempts by answer: "error" is no HTTP answer (a
// timeout, a refused connection) or one outside 2xx, 4xx and 5xx.
type AttemptCounts struct {
	OK          int `json:"2xx"`
	ClientError int `json:"4xx"`
	ServerError int `json:"5xx"`
	Error       int `json:"error"`
}

// Latency are percentiles of attempt durations in milliseconds (0 without attempts).
type Latency struct {
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
	P99 int64 `json:"p99"`
}

// StatsBucket is one hour. Attempts and the latency percentiles are beside
// the contract's fields, for the portal's charts.
type StatsBucket struct {
	Start     time.Time `json:"start"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
	Attempts  int       `json:"attempts"`
	P50       int64     `json:"latency_p50_ms"`
	P95       int64     `json:"latency_p95_ms"`
}

// Stats computes an endpoint's stats. The window is the caller's to bound:
// every attempt in it is read.
func (s *Store) Stats(ctx context.Context, appID, endpointID string, since, until time.Time) (EndpointStats, error) {
	since, until = since.UTC().Truncate(time.Microsecond), until.UTC().Truncate(time.Microsecond)
	if _, err := s.GetEndpoint(ctx, appID, endpointID); err != nil {
		return EndpointStats{}, err
	}
	st := EndpointStats{Since: since, Until: until}
	n := int(math.Ceil(float64(until.Sub(since)) / float64(time.Hour)))
	st.Buckets = make([]StatsBucket, n)
	durations := make([][]int64, n)
	for i := range st.Buckets {
		st.Buckets[i].Start = since.Add(time.Duration(i) * time.Hour)
	}
	bucket := func(t time.Time) int { return min(int(t.Sub(since)/time.Hour), n-1) }

	var ds []struct {
		Status     schemas.DeliveryStatus `db:"status"`
		FinishedAt dbTime                 `db:"finished_at"`
	}
	err := s.sel(ctx, s.rdb, &ds, `SELECT status, finished_at FROM deliveries
		WHERE endpoint_id = ? AND app_id = ? AND status IN (?, ?, ?) AND finished_at >= ? AND finished_at < ?`,
		endpointID, appID, schemas.DeliverySucceeded, schemas.DeliveryFailed, schemas.DeliveryCancelled, ts(since), ts(until))
	if err != nil {
		return EndpointStats{}, fmt.Errorf("stats of endpoint %s: deliveries: %w", endpointID, err)
	}
	for _, d := range ds {
		b := &st.Buckets[bucket(d.FinishedAt.T())]
		switch d.Status {
		case schemas.DeliverySucceeded:
			st.Counts.Succeeded++
			b.Succeeded++
		case schemas.DeliveryFailed:
			st.Counts.Failed++
			b.Failed++
		default:
			st.Counts.Cancelled++
		}
	}
	err = s.get(ctx, s.rdb, &st.Counts.Pending, `SELECT COUNT(*) FROM deliveries d
		JOIN events e ON e.app_id = d.app_id AND e.id = d.event_id
		WHERE d.endpoint_id = ? AND d.app_id = ? AND d.status IN (?, ?) AND e.created_at >= ? AND e.created_at < ?`,
		endpointID, appID, schemas.DeliveryPending, schemas.DeliveryDelivering, ts(since), ts(until))
	if err != nil {
		return EndpointStats{}, fmt.Errorf("stats of endpoint %s: pending: %w", endpointID, err)
	}

	var as []struct {
		StartedAt dbTime `db:"started_at"`
		Duration  int64  `db:"duration_ms"`
		Status    int    `db:"response_status"`
	}
	err = s.sel(ctx, s.rdb, &as, `SELECT started_at, duration_ms, response_status FROM attempts
		WHERE endpoint_id = ? AND app_id = ? AND started_at >= ? AND started_at < ? AND outcome <> ?`,
		endpointID, appID, ts(since), ts(until), schemas.OutcomeInFlight)
	if err != nil {
		return EndpointStats{}, fmt.Errorf("stats of endpoint %s: attempts: %w", endpointID, err)
	}
	all := make([]int64, 0, len(as))
	for _, a := range as {
		switch {
		case a.Status >= 200 && a.Status < 300:
			st.Attempts.OK++
		case a.Status >= 400 && a.Status < 500:
			st.Attempts.ClientError++
		case a.Status >= 500 && a.Status < 600:
			st.Attempts.ServerError++
		default:
			st.Attempts.Error++
		}
		i := bucket(a.StartedAt.T())
		st.Buckets[i].Attempts++
		durations[i] = append(durations[i], a.Duration)
		all = append(all, a.Duration)
	}
	st.Latency = Latency{P50: percentile(all, 50), P95: percentile(all, 95), P99: percentile(all, 99)}
	for i := range st.Buckets {
		st.Buckets[i].P50 = percentile(durations[i], 50)
		st.Buckets[i].P95 = percentile(durations[i], 95)
	}
	return st, nil
}

// percentile is the nearest-rank percentile of xs (which it sorts), 0 for none.
func percentile(xs []int64, p int) int64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	rank := int(math.Ceil(float64(p) / 100 * float64(len(xs))))
	return xs[max(rank, 1)-1]
}
