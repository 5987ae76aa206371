// Package lanewake wakes the deliveries waiting for their ordered lane's
// turn: in the process (Waiters), and between the processes that run
// Herald on one Postgres store (`herald api` and the `herald worker`s),
// over Postgres's LISTEN/NOTIFY (Bus).
//
// A delivery waiting for its lane's turn waits inside a local activity of
// its workflow's task (activities.AcquireTurn), where neither a turn signal
// nor a cancel reaches it until the wait times out; in the process that
// ends the lane's head, a channel wakes it. A waiter in another process
// learned of its turn only when its wait ran out, 20 s later: every
// hand-off that crossed processes stood the lane still that long. A wake
// published here reaches every other process, which wakes its own waiter,
// if it has one.
//
// A wake is a hint: the woken waiter asks the store again, and one that a
// lost notification never reached still learns of its turn when its wait
// ends. So publishing never blocks the caller, and a failure only logs.
package lanewake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"github.com/herald-hq/herald/internal/pgdial"
)

// channelPrefix names the notification channel; the store's schema
// completes it, so that Herald installations sharing a database in schemas
// of their own do not wake each other's waiters.
const channelPrefix = "herald_lane_wakes_"

// maxPayload keeps a notification under Postgres's 8,000-byte payload limit.
const maxPayload = 7900

// queued bounds the wakes waiting to be sent; more are dropped (the
// waiters' own waits end them).
const queued = 4096

// Wake names a delivery whose waiter may go on: the lane's turn passed to
// it, or a drain made it. With fields left empty it names every delivery a
// change to the store touched, as Waiters.Wake says: a cancel, a replay, a
// deleted endpoint or app.
type Wake struct {
	AppID, EventID, EndpointID string
	Seq                        int64
}

// Handler is what a process does with the wakes of the others.
type Handler struct {
	// Wake wakes this process's waiters that w names, if it has any.
	Wake func(w Wake)
	// Lost wakes every waiter of this process: notifications may have been
	// missed while the listening connection was re-made.
	Lost func()
}

// Bus publishes this process's wakes and hands the others' to a Handler.
type Bus struct {
	db      *sql.DB
	ln      *pq.Listener
	channel string
	self    string // tells this process's notifications from the others'
	log     *slog.Logger
	out     chan Wake
	dropped atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// New connects to the store's Postgres database at dsn, a connection to
// listen and one to notify. Nothing is sent or handed on before Start.
func New(ctx context.Context, dsn string, log *slog.Logger) (*Bus, error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("lane wakes: %w", err)
	}
	db, err := pgdial.Open(dsn) // a link that dies silently is noticed (internal/pgdial)
	if err != nil {
		return nil, fmt.Errorf("lane wakes: %w", err)
	}
	db.SetMaxOpenConns(1) // one sender, one notification at a time
	var schema string
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("lane wakes: the store's schema: %w", err)
	}
	b := &Bus{db: db, channel: channelName(schema), self: hex.EncodeToString(id), log: log,
		out: make(chan Wake, queued), stop: make(chan struct{})}
	b.ln = pq.NewDialListener(pgdial.New(), dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			log.Warn("lane wakes: listening connection", "event", ev, "err", err)
		}
	})
	// Listen waits for the connection however long it takes; Close ends it.
	listened := make(chan error, 1)
	go func() { listened <- b.ln.Listen(b.channel) }()
	select {
	case err := <-listened:
		if err != nil {
			b.ln.Close()
			db.Close()
			return nil, fmt.Errorf("lane wakes: listen: %w", err)
		}
	case <-ctx.Done():
		b.ln.Close()
		db.Close()
		return nil, fmt.Errorf("lane wakes: listen: %w", ctx.Err())
	}
	return b, nil
}

// channelName is the channel of a schema's wakes: a Postgres identifier,
// at most 63 bytes.
func channelName(schema string) string {
	if name := channelPrefix + schema; len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(schema))
	return channelPrefix + hex.EncodeToString(sum[:16])
}

// Start sends the wakes published and hands the other processes' to h.
func (b *Bus) Start(h Handler) {
	b.wg.Add(2)
	go b.send()
	go b.receive(h)
}

// Publish queues a wake for the other processes. It never blocks: with
// the queue full the wake is dropped, and its waiter learns of its turn
// when its wait ends.
func (b *Bus) Publish(w Wake) {
	select {
	case b.out <- w:
	default:
		b.dropped.Add(1) // logged by the sender, once for a run of them
	}
}

// Close stops sending and listening.
func (b *Bus) Close() error {
	var err error
	b.once.Do(func() {
		close(b.stop)
		lnErr := b.ln.Close()
		b.wg.Wait()
		err = errors.Join(lnErr, b.db.Close())
	})
	return err
}

// send sends the queued wakes, as many to a notification as fit: under a
// burst a drain makes hundreds of deliveries a second.
func (b *Bus) send() {
	defer b.wg.Done()
	var next []byte // an encoded wake that did not fit the last notification
	for {
		entries := make([][]byte, 0, 16)
		size := 0
		if next != nil {
			entries, size, next = append(entries, next), len(next), nil
		} else {
			select {
			case w := <-b.out:
				e := encodeWake(w)
				entries, size = append(entries, e), len(e)
			case <-b.stop:
				return
			}
		}
	more:
		for {
			select {
			case w := <-b.out:
				e := encodeWake(w)
				if size+len(e)+len(b.self)+32 > maxPayload {
					next = e
					break more
				}
				entries, size = append(entries, e), size+len(e)+1
			default:
				break more
			}
		}
		b.notify(entries)
		if n := b.dropped.Swap(0); n > 0 {
			b.log.Warn("lane wakes: queue full, wakes dropped (their waiters ask again when their waits end)", "dropped", n)
		}
	}
}

func (b *Bus) notify(entries [][]byte) {
	payload := `{"from":"` + b.self + `","wakes":[` + string(bytes.Join(entries, []byte(","))) + `]}`
	if len(payload) > maxPayload {
		b.log.Warn("lane wakes: a wake too long for a notification, dropped", "bytes", len(payload))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", b.channel, payload); err != nil {
		b.log.Warn("lane wakes: notify", "wakes", len(entries), "err", err)
	}
}

// receive hands the other processes' wakes to h, and a Lost after the
// listening connection was re-made.
func (b *Bus) receive(h Handler) {
	defer b.wg.Done()
	for {
		select {
		case n, ok := <-b.ln.Notify:
			if !ok {
				return
			}
			if n == nil {
				h.Lost()
				continue
			}
			from, wakes, err := decode(n.Extra)
			if err != nil {
				b.log.Warn("lane wakes: a notification not understood", "err", err)
				continue
			}
			if from == b.self {
				continue
			}
			for _, w := range wakes {
				h.Wake(w)
			}
		case <-b.stop:
			return
		}
	}
}

// A wake travels as [app, event, endpoint, seq].
func (w Wake) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{w.AppID, w.EventID, w.EndpointID, w.Seq})
}

func (w *Wake) UnmarshalJSON(b []byte) error {
	var f []json.RawMessage
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if len(f) != 4 {
		return errors.New("a wake is not [app, event, endpoint, seq]")
	}
	for i, dst := range []any{&w.AppID, &w.EventID, &w.EndpointID, &w.Seq} {
		if err := json.Unmarshal(f[i], dst); err != nil {
			return err
		}
	}
	return nil
}

func encodeWake(w Wake) []byte {
	e, _ := json.Marshal(w) // strings and an integer always encode
	return e
}

// message is one notification's payload.
type message struct {
	From  string `json:"from"`
	Wakes []Wake `json:"wakes"`
}

func decode(payload string) (string, []Wake, error) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return "", nil, err
	}
	return m.From, m.Wakes, nil
}
