package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/metrics"
	"github.com/herald-hq/herald/schemas"
)

// Message headers a source reads.
const (
	HeaderEventType   = "herald-event-type"
	HeaderOrderingKey = "herald-ordering-key"
)

// eventIDPattern is the rule for client-given event ids.
var eventIDPattern = regexp.MustCompile(schemas.IDPattern)

// consume runs one subscription to the source until it fails (its error)
// or runCtx ends (nil). Messages are admitted in lanes: messages with one
// ordering key (or none) go through one lane, one at a time in the
// broker's order, so the order the store fixes at admission is the
// queue's; different keys are admitted at once. Workflows are then started
// concurrently (the order no longer depends on them), and a message is
// acknowledged only once its event's workflow has started.
func (s *Sources) consume(runCtx context.Context, src schemas.Source, ready func(), log *slog.Logger) error {
	ctx, stop := context.WithCancelCause(runCtx)
	defer stop(nil)
	n := s.d.Config.Lanes
	lanes := make([]chan broker.Delivery, n)
	starts := make(chan admitted, s.d.Config.Prefetch)
	var wg sync.WaitGroup
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				stop(err)
			}
		}()
	}
	for i := range lanes {
		lanes[i] = make(chan broker.Delivery, s.d.Config.Prefetch)
		run(func() error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case d := <-lanes[i]:
					if err := s.admit(ctx, src, d, starts, log); err != nil {
						return err
					}
				}
			}
		})
	}
	for range s.d.Config.Prefetch {
		run(func() error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case a := <-starts:
					if err := s.start(ctx, a); err != nil {
						return err
					}
				}
			}
		})
	}
	err := s.d.Consumer.Consume(ctx, src.URL, s.d.Config.Prefetch, ready, func(d broker.Delivery) {
		select {
		case lanes[lane(d.Header[HeaderOrderingKey], n)] <- d:
		case <-ctx.Done():
		}
	})
	stop(err)
	wg.Wait()
	if cause := context.Cause(ctx); runCtx.Err() == nil && cause != nil {
		return cause
	}
	return nil
}

// lane picks the lane of an ordering key: lane 0 for none.
func lane(key string, n int) int {
	if key == "" || n < 2 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return 1 + int(h.Sum32()%uint32(n-1))
}

// admitted is a message whose event is stored, its workflow to start.
type admitted struct {
	d       broker.Delivery
	id      string
	created bool
	start   func(context.Context) error
}

// admit stores one message's event and hands it to the starters, or
// rejects the message when it can never be accepted. An error (the store
// is down) stops the subscription: the message goes back to the broker and
// comes again, an idempotent repeat.
func (s *Sources) admit(ctx context.Context, src schemas.Source, d broker.Delivery, starts chan<- admitted, log *slog.Logger) error {
	in := s.eventOf(src, d.Message)
	created, start, err := s.d.Acceptor.Admit(ctx, in)
	switch kind := schemas.KindOf(err); {
	case err == nil:
		select {
		case starts <- admitted{d: d, id: in.ID, created: created, start: start}:
		case <-ctx.Done():
		}
		return nil
	case kind == schemas.KindInvalid || kind == schemas.KindBadRequest || kind == schemas.KindTooLarge:
		code := "invalid"
		var e *schemas.Error
		if errors.As(err, &e) {
			code = e.Code
		}
		log.Warn("source message rejected: it can never be accepted", "event", in.ID, "code", code, "err", err)
		if err := d.Reject(); err != nil {
			return fmt.Errorf("reject message: %w", err)
		}
		s.count(metrics.SourceRejected, code)
		return nil
	default:
		return fmt.Errorf("admit message as event %s: %w", in.ID, err)
	}
}

// startTries is how often a workflow start is tried before the
// subscription gives up (a busy Temporal answers unavailable for moments).
const startTries = 5

// start starts an admitted event's workflow and acknowledges its message.
func (s *Sources) start(ctx context.Context, a admitted) error {
	if a.start != nil {
		var err error
		for try := range startTries {
			if err = a.start(ctx); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(100<<try) * time.Millisecond):
			}
		}
		if err != nil {
			return fmt.Errorf("start the workflow of event %s: %w", a.id, err)
		}
	}
	if err := a.d.Ack(); err != nil {
		return fmt.Errorf("acknowledge message: %w", err)
	}
	result := metrics.SourceAccepted
	if !a.created {
		result = metrics.SourceRepeat
	}
	s.count(result, "")
	return nil
}

func (s *Sources) count(result, reason string) {
	if s.d.Metrics != nil {
		s.d.Metrics.SourceMessage(result, reason)
	}
}

// eventOf makes a message an event: type from the herald-event-type header
// or the source's, payload the body, id the message's own when it is a
// valid event id. Otherwise the id is made so that a redelivery makes the
// same one where that is possible: from a message id that is not a valid
// event id, or from the broker's stable key (a JetStream sequence).
func (s *Sources) eventOf(src schemas.Source, m broker.Message) schemas.EventIn {
	in := schemas.EventIn{AppID: src.AppID, EventType: src.EventType, Payload: m.Body}
	if t := m.Header[HeaderEventType]; t != "" {
		in.EventType = t
	}
	in.OrderingKey = m.Header[HeaderOrderingKey]
	switch {
	case eventIDPattern.MatchString(m.ID):
		in.ID = m.ID
	case m.ID != "":
		sum := sha256.Sum256([]byte(m.ID))
		in.ID = "msg_" + hex.EncodeToString(sum[:20])
	case m.Key != "":
		at := m.Time
		if at.IsZero() {
			at = s.d.Now()
		}
		in.ID = stableID(src.ID+"/"+m.Key, at)
	}
	return in
}

// stableID is an evt_ id (a ULID, sorting by time) whose random part comes
// from key, so the same message always makes the same id.
func stableID(key string, at time.Time) string {
	sum := sha256.Sum256([]byte(key))
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(at)); err != nil {
		return "evt_" + strings.ToLower(hex.EncodeToString(sum[:16]))
	}
	copy(id[6:], sum[:10])
	return schemas.PrefixEvent + strings.ToLower(id.String())
}
