package bench

import (
	"context"
	"fmt"
)

// Settings are the options a result was measured with.
type Settings struct {
	Events      int     `json:"events"` // per measured phase (rate × duration in open loop)
	Endpoints   int     `json:"endpoints"`
	Concurrency int     `json:"concurrency"` // closed loop only
	Ordered     bool    `json:"ordered"`
	Keys        int     `json:"keys"` // ordering keys the events are spread over; 0: none
	Rounds      int     `json:"rounds"`
	Warmup      int     `json:"warmup_events"`
	OpenLoop    bool    `json:"open_loop"`
	Rate        float64 `json:"rate_per_s"` // open loop only
	DurationS   float64 `json:"duration_s"` // open loop only
	Floor       string  `json:"floor"`
	Target      string  `json:"target"`
	Versus      string  `json:"versus,omitempty"`
	// VersusUnordered: the versus column is a herald dev with unordered endpoints.
	VersusUnordered bool   `json:"versus_unordered,omitempty"`
	Source          string `json:"source,omitempty"` // the broker of the source phases
}

// Result is what a run measured. See docs/performance.md for every field.
type Result struct {
	Settings Settings `json:"settings"`

	Herald Summary  `json:"herald"`
	Versus *Summary `json:"versus,omitempty"`
	// Source is Herald fed through a broker source instead of its API.
	Source *Summary `json:"source,omitempty"`
	Floor  Summary  `json:"floor"`
	Raw    *Summary `json:"raw,omitempty"`

	// Round-by-round ratios.
	HeraldOverFloor  Ratios  `json:"herald_over_floor"`
	VersusOverHerald *Ratios `json:"versus_over_herald,omitempty"`
	SourceOverHerald *Ratios `json:"source_over_herald,omitempty"`
	SourceOverFloor  *Ratios `json:"source_over_floor,omitempty"`

	// Average history length of a sample of the last round's event
	// workflows; 0 when not measured.
	HistoryEventsPerEvent float64 `json:"history_events_per_event"`
	HistorySample         int     `json:"history_sample"`

	// Herald's process at the end of the run, after HeraldEvents events
	// (warm-up and every round).
	HeraldEvents     int     `json:"herald_process_events"`
	HeraldRSSMiB     float64 `json:"herald_process_rss_mib"`
	HeraldPeakRSSMiB float64 `json:"herald_process_peak_rss_mib"`

	// Requests to a receiver path no phase served (a delivery to an
	// endpoint of another run).
	Strays int `json:"stray_requests"`
}

func newResult(o Options) Result {
	target := o.Target
	if target == "" {
		target = "herald dev"
	}
	s := Settings{
		Events: o.events(), Endpoints: o.Endpoints, Ordered: o.Ordered, Keys: o.Keys, Rounds: o.Rounds,
		Warmup: o.Warmup, Floor: o.Floor, Target: target, Versus: o.Versus, VersusUnordered: o.VersusUnordered,
		Source: o.Source,
	}
	if o.Rate > 0 {
		s.OpenLoop, s.Rate, s.DurationS = true, o.Rate, o.Duration.Seconds()
	} else {
		s.Concurrency = o.Concurrency
	}
	return Result{Settings: s}
}

// set summarizes the rounds of each system and their ratios.
func (r *Result) set(rounds map[string][]Figures) {
	r.Herald = summarize(rounds["herald"])
	r.Floor = summarize(rounds["floor"])
	r.HeraldOverFloor = ratiosOf(rounds["herald"], rounds["floor"])
	if v, ok := rounds["versus"]; ok {
		s := summarize(v)
		r.Versus = &s
		rt := ratiosOf(v, rounds["herald"])
		r.VersusOverHerald = &rt
	}
	if src, ok := rounds["source"]; ok {
		s := summarize(src)
		r.Source = &s
		rt := ratiosOf(src, rounds["herald"])
		r.SourceOverHerald = &rt
		if floor, ok := rounds["floor"]; ok {
			rt := ratiosOf(src, floor)
			r.SourceOverFloor = &rt
		}
	}
	if raw, ok := rounds["raw"]; ok {
		s := summarize(raw)
		r.Raw = &s
	}
}

// heraldExtras reads the history sample and Herald's process memory.
func (r *Result) heraldExtras(ctx context.Context, o Options, s *system, last phaseRun) error {
	r.HeraldEvents = o.Warmup + o.Rounds*o.events()
	if pid := s.pid(); pid != 0 {
		var err error
		if r.HeraldRSSMiB, r.HeraldPeakRSSMiB, err = procRSS(pid); err != nil {
			return err
		}
	}
	if s.tc == nil || last.setup.app == "" {
		return nil
	}
	n, sample, err := historyPerEvent(ctx, s.tc, last.setup.app, last.ids, o.Logger)
	if err != nil {
		return fmt.Errorf("bench history sample: %w", err)
	}
	r.HistoryEventsPerEvent, r.HistorySample = n, sample
	return nil
}

// dropTimelines leaves the per-second series out of the result (they are
// kept in open-loop runs, where the backlog over time is a finding).
func (r *Result) dropTimelines() {
	for _, s := range []*Summary{&r.Herald, r.Versus, r.Source, &r.Floor, r.Raw} {
		if s == nil {
			continue
		}
		for i := range s.Rounds {
			s.Rounds[i].Timeline = nil
		}
	}
}
