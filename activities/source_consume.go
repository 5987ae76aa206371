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

// eventIDPattern is the API's rule for client-given event ids.
var eventIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// consume runs one subscription to the source until it fails (its error)
// or runCtx ends (nil). Messages are accepted in lanes: messages with one
// ordering key (or none) go through one lane, one at a time in the
// broker's order, so the order the store fixes at acceptance is the
// queue's; different keys are accepted at once. A message is acknowledged
// only once its event is accepted.
func (s *Sources) consume(runCtx context.Context, src schemas.Source, ready func(), log *slog.Logger) error {
	ctx, stop := context.WithCancelCause(runCtx)
	defer stop(nil)
	n := s.d.Config.Lanes
	lanes := make([]chan broker.Delivery, n)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan broker.Delivery, s.d.Config.Prefetch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case d := <-lanes[i]:
					if err := s.settle(ctx, src, d, log); err != nil {
						stop(err)
						return
					}
				}
			}
		}()
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

// settle accepts one message's event and acknowledges the message, or
// rejects it when it can never be accepted. An error (the store or
// Temporal is down) stops the subscription: the message goes back to the
// broker and comes again, an idempotent repeat.
func (s *Sources) settle(ctx context.Context, src schemas.Source, d broker.Delivery, log *slog.Logger) error {
	in := s.eventOf(src, d.Message)
	created, err := s.d.Acceptor.Accept(ctx, in)
	switch kind := schemas.KindOf(err); {
	case err == nil:
		if err := d.Ack(); err != nil {
			return fmt.Errorf("acknowledge message: %w", err)
		}
		result := metrics.SourceAccepted
		if !created {
			result = metrics.SourceRepeat
		}
		s.count(result, "")
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
		return fmt.Errorf("accept message as event %s: %w", in.ID, err)
	}
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
