package bench

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// phaseRun is what runPhase returns beside the figures.
type phaseRun struct {
	Figures
	setup phaseSetup
	ids   []string // the webhook ids sent, in send order
}

// runPhase drives one phase of sys: sets up E endpoints, sends the phase's
// events (closed loop: Events at Concurrency; open loop: Rate for
// Duration), waits for every delivery and then for every workflow the
// phase started to close, and reads the process's CPU over that window.
func runPhase(ctx context.Context, o Options, sys *system, recv *Receivers, key, label string, events int, progressOut io.Writer) (phaseRun, error) {
	urls := make([]string, o.Endpoints)
	for i := range urls {
		urls[i] = recv.URL(key, i)
	}
	setup, err := sys.begin(ctx, urls)
	if err != nil {
		return phaseRun{}, err
	}
	rec, err := recv.Record(key, setup.secrets)
	if err != nil {
		return phaseRun{}, err
	}
	ids := make([]string, events)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%07d", setup.idPrefix, i)
	}
	log := newSendLog(events)
	var accepted, sendErrors, closed atomic.Int64
	closed.Store(-1)
	stop := progress(progressOut, label, func(elapsed time.Duration) string {
		s := fmt.Sprintf("accepted %d/%d, delivered %d/%d (%.0f/s)", accepted.Load(), events,
			rec.Delivered(), events*o.Endpoints, perSecond(float64(rec.Delivered()), elapsed.Seconds()))
		if n := closed.Load(); n >= 0 {
			s += fmt.Sprintf(", closed %d/%d", n, accepted.Load())
		}
		return s
	})
	defer stop()

	pid := sys.pid()
	cpu0, err := cpuOf(pid)
	if err != nil {
		return phaseRun{}, err
	}
	start := time.Now()
	// A failed send is counted and, in the closed loop, tried again with
	// the same id (an idempotent retry, as a careful client would), so one
	// overloaded moment does not end the run; latency runs from the first try.
	tries := 1
	if o.Rate == 0 {
		tries = sendTries
	}
	send := func(ctx context.Context, i int) error {
		sendAt := time.Now()
		var err error
		for try := range tries {
			if try > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(try) * 200 * time.Millisecond):
				}
			}
			if err = setup.send(ctx, ids[i], o.key(i), benchPayload(i)); err == nil {
				log.add(ids[i], sent{sendAt: sendAt, acceptAt: time.Now(), lane: o.key(i)})
				accepted.Add(1)
				return nil
			}
			sendErrors.Add(1)
			o.Logger.Debug("send failed", "system", sys.name, "try", try+1, "error", err)
		}
		return err
	}
	if o.Rate > 0 {
		openLoop(ctx, events, o.Rate, func(ctx context.Context, i int) { _ = send(ctx, i) })
	} else if err := pool(ctx, events, o.Concurrency, send); err != nil {
		return phaseRun{}, fmt.Errorf("send events: %w", err)
	}
	want := int(accepted.Load()) * o.Endpoints
	if err := rec.Wait(ctx, want, o.Timeout); err != nil {
		return phaseRun{}, fmt.Errorf("%s: %w", label, err)
	}
	cpuReceipts, err := cpuOf(pid)
	if err != nil {
		return phaseRun{}, err
	}
	if sys.tc != nil && setup.workflows != "" {
		wantClosed := setup.earlier + int(accepted.Load())
		err := waitClosed(ctx, sys.tc, setup.workflows, wantClosed, o.Timeout, func(n int) { closed.Store(int64(n - setup.earlier)) })
		if err != nil {
			return phaseRun{}, fmt.Errorf("%s: %w", label, err)
		}
	}
	end := time.Now()
	cpu1, err := cpuOf(pid)
	if err != nil {
		return phaseRun{}, err
	}
	stop()

	f := measure(rec, log.snapshot(), start, o.Endpoints)
	f.Events = float64(events)
	f.SendErrors = float64(sendErrors.Load())
	f.WindowS = end.Sub(start).Seconds()
	f.CompletedPerS = perSecond(f.Deliveries, f.WindowS)
	if pid != 0 {
		f.CPUS = (cpu1 - cpu0).Seconds()
		f.CPUAfterReceiptsS = (cpu1 - cpuReceipts).Seconds()
		f.Cores = f.CPUS / f.WindowS
		if f.Deliveries > 0 {
			f.CPUMsPerDelivery = f.CPUS * 1000 / f.Deliveries
		}
		if f.RSSMiB, _, err = procRSS(pid); err != nil {
			return phaseRun{}, err
		}
	}
	return phaseRun{Figures: f, setup: setup, ids: ids}, nil
}

// sendTries is how often the closed loop tries one event.
const sendTries = 5

// cpuOf is procCPU, or 0 for no process.
func cpuOf(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	return procCPU(pid)
}

// openLoop calls send(0..n-1) at rate per second from now, each in its own
// goroutine, whatever the earlier calls are doing, and returns when all
// have returned.
func openLoop(ctx context.Context, n int, rate float64, send func(ctx context.Context, i int)) {
	start := time.Now()
	done := make(chan struct{}, n)
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				n = i
			case <-time.After(d):
			}
		}
		if i >= n {
			break
		}
		go func() {
			send(ctx, i)
			done <- struct{}{}
		}()
	}
	for range n {
		<-done
	}
}
