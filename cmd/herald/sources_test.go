package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/longtest"

	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/signing"
)

func (f fixture) source(t *testing.T, url, eventType string) schemas.Source {
	t.Helper()
	var src schemas.Source
	body := map[string]any{"url": url}
	if eventType != "" {
		body["event_type"] = eventType
	}
	f.api.must(201, "POST", "/v1/apps/"+f.app+"/sources", body, &src)
	return src
}

func (f fixture) waitSource(t *testing.T, id, status string) schemas.Source {
	t.Helper()
	var src schemas.Source
	eventually(t, time.Minute, "source "+id+" to be "+status, func() bool {
		f.api.must(200, "GET", "/v1/apps/"+f.app+"/sources/"+id, nil, &src)
		return src.Status == status
	})
	return src
}

// metric reads one sample of /metrics (0 when absent).
func metric(t *testing.T, p *devProc, line string) string {
	t.Helper()
	return metricOf(t, p, line)
}

func metricOf(t testing.TB, p *devProc, line string) string {
	t.Helper()
	resp, err := http.Get(p.api.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, line+" ") {
			return strings.TrimPrefix(l, line+" ")
		}
	}
	return "0"
}

// A message published to a source queue becomes an event (id from the
// message-id, type from the header or the source) delivered signed; a
// repeat of its id is acknowledged and delivers nothing new; a message that
// can never be accepted is rejected without requeue and counted; deleting
// the source stops its consumer.
func TestAMQPSourceDeliversSignedWebhooks(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, nil)
	ep := f.endpoint(t, map[string]any{"url": rc.URL()})
	r := newRabbit(t)
	q := uniqueName(t, "q")
	r.queue(q)

	src := f.source(t, "amqp://guest:guest@127.0.0.1:5672/?queue="+q, f.eventType)
	if !strings.HasPrefix(src.ID, "src_") || strings.Contains(src.URL, "guest:guest") || src.Status != schemas.SourceRunning {
		t.Fatalf("created source = %+v (want src_ id, password hidden, running)", src)
	}
	eventually(t, time.Minute, "the source to consume the queue", func() bool { _, c := r.depth(q); return c == 1 })

	rejectedBefore := metric(t, p, `herald_source_messages_total{reason="invalid_json",result="rejected"}`)
	r.publish(q, "m-1", amqp.Table{"herald-event-type": f.eventType}, `{"n":1}`)
	r.publish(q, "", nil, `{"n":2}`)
	r.publish(q, "m-3", nil, `not json`)
	eventually(t, 30*time.Second, "two webhooks", func() bool { return rc.count() >= 2 })
	got := rc.received()
	if got[0].ID != "m-1" || !strings.HasPrefix(got[1].ID, "evt_") {
		t.Errorf("webhook ids %q, %q: want m-1 then a made evt_ id", got[0].ID, got[1].ID)
	}
	for _, g := range got[:2] {
		if err := signing.Verify(ep.Secret, g.Header, g.Body, time.Minute); err != nil {
			t.Errorf("signature of %s: %v", g.ID, err)
		}
	}
	if !strings.Contains(string(got[0].Body), `"data":{"n":1}`) {
		t.Errorf("body %s", got[0].Body)
	}
	eventually(t, 30*time.Second, "the bad message counted as rejected", func() bool {
		return metric(t, p, `herald_source_messages_total{reason="invalid_json",result="rejected"}`) != rejectedBefore
	})
	eventually(t, 10*time.Second, "the queue empty: everything settled", func() bool { n, _ := r.depth(q); return n == 0 })

	repeatsBefore := metric(t, p, `herald_source_messages_total{reason="",result="repeat"}`)
	r.publish(q, "m-1", nil, `{"n":1}`)
	eventually(t, 30*time.Second, "the repeat acknowledged", func() bool {
		return metric(t, p, `herald_source_messages_total{reason="",result="repeat"}`) != repeatsBefore
	})
	if ev := f.event(t, "m-1"); len(ev.Deliveries) != 1 || len(ev.Deliveries[0].Attempts) != 1 {
		t.Errorf("m-1 after its repeat: %+v, want one delivery with one attempt", ev.Deliveries)
	}

	f.api.must(204, "DELETE", "/v1/apps/"+f.app+"/sources/"+src.ID, nil, nil)
	f.api.must(404, "GET", "/v1/apps/"+f.app+"/sources/"+src.ID, nil, nil)
	eventually(t, 30*time.Second, "the consumer gone after DELETE", func() bool { _, c := r.depth(q); return c == 0 })
}

// The same through a NATS JetStream consumer: the id from Nats-Msg-Id, or
// made from the stream sequence so that a redelivery is the same event.
func TestNATSSourceDeliversSignedWebhooks(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, nil)
	ep := f.endpoint(t, map[string]any{"url": rc.URL()})
	nc, js := jetStream(t, natsURL)
	name := uniqueName(t, "S")
	stream(t, js, name, name+".>")

	src := f.source(t, natsURL+"?stream="+name+"&consumer=herald", "")
	f.waitSource(t, src.ID, schemas.SourceRunning)
	eventually(t, 30*time.Second, "the consumer to exist", func() bool {
		_, err := js.Consumer(context.Background(), name, "herald")
		return err == nil
	})

	m := nats.NewMsg(name + ".a")
	m.Header.Set("Nats-Msg-Id", "n-1")
	m.Header.Set("herald-event-type", f.eventType)
	m.Data = []byte(`{"n":1}`)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	m2 := nats.NewMsg(name + ".b")
	m2.Header.Set("herald-event-type", f.eventType)
	m2.Data = []byte(`{"n":2}`)
	if _, err := js.PublishMsg(context.Background(), m2); err != nil {
		t.Fatal(err)
	}
	_ = nc
	eventually(t, 30*time.Second, "two webhooks", func() bool { return rc.count() >= 2 })
	got := rc.received()
	if got[0].ID != "n-1" || !strings.HasPrefix(got[1].ID, "evt_") {
		t.Errorf("webhook ids %q, %q: want n-1 then a made evt_ id", got[0].ID, got[1].ID)
	}
	for _, g := range got[:2] {
		if err := signing.Verify(ep.Secret, g.Header, g.Body, time.Minute); err != nil {
			t.Errorf("signature of %s: %v", g.ID, err)
		}
	}
	f.api.must(204, "DELETE", "/v1/apps/"+f.app+"/sources/"+src.ID, nil, nil)
}

// Killing `herald dev` with SIGKILL while its source holds unacknowledged
// messages loses none and makes none twice: every message becomes exactly
// one event, delivered.
func TestSourceSurvivesKillNine(t *testing.T) {
	longtest.Require(t, "a broker source through kill -9")
	t.Parallel()
	p := startDev(t, t.TempDir(), nil)
	f := newFixture(t, p.api, nil)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		return 200, nil, 20 * time.Millisecond
	})
	f.endpoint(t, map[string]any{"url": rc.URL()})
	r := newRabbit(t)
	q := uniqueName(t, "q")
	r.queue(q)
	const n = 150
	for i := range n {
		r.publish(q, fmt.Sprintf("k-%03d", i), nil, fmt.Sprintf(`{"i":%d}`, i))
	}
	f.source(t, "amqp://guest:guest@127.0.0.1:5672/?queue="+q, f.eventType)
	eventually(t, time.Minute, "some events delivered", func() bool { return rc.count() >= 5 })
	ready, _ := r.depth(q)
	p.kill()
	back, _ := r.depth(q)
	t.Logf("killed with %d webhooks received; %d messages ready before the kill, %d after (the unacknowledged came back)", rc.count(), ready, back)

	p.env["HERALD_HTTP_ADDR"] = freeAddr(t)
	p.start()
	f.api = p.api
	eventually(t, 3*time.Minute, "every message delivered", func() bool {
		seen := map[string]bool{}
		for _, g := range rc.received() {
			seen[g.ID] = true
		}
		return len(seen) == n
	})
	var page struct {
		Data []schemas.Event `json:"data"`
	}
	f.api.must(200, "GET", "/v1/apps/"+f.app+"/events?limit=250", nil, &page)
	if len(page.Data) != n {
		t.Errorf("%d events for %d messages", len(page.Data), n)
	}
	eventually(t, 30*time.Second, "the queue empty", func() bool { m, _ := r.depth(q); return m == 0 })
}
