package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Several Herald processes make attempts on one store in production
// (`herald api` and the `herald worker`s). An attempt in flight is noted
// before its POST, and if its process dies the note stays: the attempt's
// re-run, in another process, must tell that note from a POST still under
// way, or POST twice. Without more to go on it waits until the POST must
// have ended (the delivery timeout and a margin: 18 s by default), and the
// attempt's lane stands still that long. So each such process beats every
// BeatEvery, and notes what it begins with its id; a note whose process
// has not beaten for ProcessLapse is a dead process's. `herald dev` is the
// only process on its store, puts a dead run's notes on record as it
// starts (RecoverAfterCrash), and names no process.

// BeatEvery is how often a process says it is alive.
const BeatEvery = time.Second

// ProcessLapse is how long a process may go without a beat before its
// notes in flight are taken for a dead process's: four beats missed.
const ProcessLapse = 4 * time.Second

// forgetAfter is how long a lapsed process's row is kept.
const forgetAfter = time.Hour

// Owner is what the store knows of the process that noted an attempt in
// flight.
type Owner int

const (
	// OwnerUnknown: the note names no process (`herald dev`).
	OwnerUnknown Owner = iota
	// OwnerAlive: its process beat within ProcessLapse.
	OwnerAlive
	// OwnerGone: its process has not beaten for ProcessLapse, or stopped.
	OwnerGone
)

// WithProcess makes the store note the attempts it begins as process id's,
// for Beat to keep alive.
func WithProcess(id string) Option {
	return func(s *Store) { s.process = id }
}

// beats is what a process knows of its own beats. While it cannot beat
// (the database unreachable), and for ProcessLapse after, it takes no other
// process for gone: a silence it shared, all processes cut off from the
// database at once, is no sign of death, and taking over their attempts as
// the database comes back would POST what they may still be POSTing. Each
// lives if it beats again within ProcessLapse.
type beats struct {
	mu        sync.Mutex
	failing   bool
	recovered time.Time // the first beat after failing ones
}

func (b *beats) note(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok && b.failing {
		b.recovered = time.Now()
	}
	b.failing = !ok
}

// judging says whether this process may take others for gone now.
func (b *beats) judging() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.failing && time.Since(b.recovered) >= ProcessLapse
}

// Beat says that this process is alive, and returns the processes that
// have not said so for ProcessLapse: what they noted in flight may now be
// taken over. Rows lapsed for an hour are removed. The database's clock
// decides on Postgres, where the processes are on other machines.
func (s *Store) Beat(ctx context.Context) (lapsed []string, err error) {
	if s.process == "" {
		return nil, nil
	}
	now, args := s.timeAgo(0)
	if _, err := s.exec(ctx, s.db, `INSERT INTO processes (id, seen_at) VALUES (?, `+now+`)
		ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, append([]any{s.process}, args...)...); err != nil {
		s.beats.note(false)
		return nil, fmt.Errorf("note process %s alive: %w", s.process, err)
	}
	s.beats.note(true)
	if !s.beats.judging() {
		return nil, nil
	}
	// Lapsed rows stay an hour, so that every process sees each lapse;
	// only those past it are removed, not every beat while one is kept.
	cutoff, args := s.timeAgo(ProcessLapse)
	old, oldArgs := s.timeAgo(forgetAfter)
	var rows []struct {
		ID  string `db:"id"`
		Old bool   `db:"old"`
	}
	if err := s.sel(ctx, s.rdb, &rows, `SELECT id, seen_at < `+old+` AS old FROM processes WHERE seen_at < `+cutoff+` ORDER BY id`,
		append(oldArgs, args...)...); err != nil {
		return nil, fmt.Errorf("find lapsed processes: %w", err)
	}
	forget := false
	for _, r := range rows {
		lapsed = append(lapsed, r.ID)
		forget = forget || r.Old
	}
	if forget {
		if _, err := s.exec(ctx, s.db, `DELETE FROM processes WHERE seen_at < `+old, oldArgs...); err != nil {
			return lapsed, fmt.Errorf("forget lapsed processes: %w", err)
		}
	}
	return lapsed, nil
}

// Forget removes this process's row as it stops: its notes in flight, if
// any are left, are a stopped process's and may be taken over at once.
func (s *Store) Forget(ctx context.Context) error {
	if s.process == "" {
		return nil
	}
	if _, err := s.exec(ctx, s.db, `DELETE FROM processes WHERE id = ?`, s.process); err != nil {
		return fmt.Errorf("forget process %s: %w", s.process, err)
	}
	return nil
}

// timeAgo is SQL for the time d ago, with its argument: the database's
// clock on Postgres, this process's on SQLite (one machine).
func (s *Store) timeAgo(d time.Duration) (string, []any) {
	if s.dialect == DialectPostgres {
		return fmt.Sprintf("now() - interval '%d milliseconds'", d.Milliseconds()), nil
	}
	return "?", []any{ts(time.Now().Add(-d))}
}

// ownerSQL is a column expression for the Owner of the attempt row a,
// joined to its process's row p, with its argument.
func (s *Store) ownerSQL() (string, []any) {
	cutoff, args := s.timeAgo(ProcessLapse)
	return fmt.Sprintf(`CASE WHEN a.process_id IS NULL THEN %d WHEN p.seen_at IS NULL OR p.seen_at < %s THEN %d ELSE %d END`,
		OwnerUnknown, cutoff, OwnerGone, OwnerAlive), args
}
