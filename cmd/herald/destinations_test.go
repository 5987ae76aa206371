package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/longtest"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/signing"
)

// Ordered endpoints that are a RabbitMQ exchange and a NATS subject get
// every event in acceptance order, with the body an HTTP endpoint would
// get and the webhook-* and custom headers as message headers, signed.
func TestOrderedBrokerDestinations(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	f := newFixture(t, apiFor(t, p), nil)
	r := newRabbit(t)
	q, x := uniqueName(t, "q"), uniqueName(t, "x")
	r.queue(q)
	r.exchangeTo(x, q, "hooks")
	_, js := jetStream(t, natsURL)
	s := uniqueName(t, "S")
	st := stream(t, js, s, s+".>")

	amqpEP := f.endpoint(t, map[string]any{"url": "amqp://guest:guest@127.0.0.1:5672/?exchange=" + x + "&routing_key=hooks",
		"headers": map[string]string{"X-Tenant": "acme"}})
	natsEP := f.endpoint(t, map[string]any{"url": natsURL + "?subject=" + s + ".hooks"})
	const n = 15
	for i := range n {
		f.send(t, fmt.Sprintf("o-%02d", i), map[string]any{"i": i})
	}
	for i := range n {
		ev := f.waitStatus(t, fmt.Sprintf("o-%02d", i), schemas.EventDelivered, time.Minute)
		for _, d := range ev.Deliveries {
			if a := d.Attempts[len(d.Attempts)-1]; a.ResponseStatus != 200 || a.Error != "" {
				t.Errorf("%s to %s: %+v", ev.ID, d.EndpointID, a)
			}
		}
	}
	for i := range n {
		d, ok := r.get(q, 10*time.Second)
		if !ok {
			t.Fatalf("message %d missing from the queue", i)
		}
		h := http.Header{}
		for k, v := range d.Headers {
			h.Set(k, fmt.Sprint(v))
		}
		if want := fmt.Sprintf("o-%02d", i); d.MessageId != want || h.Get("webhook-id") != want || h.Get("x-tenant") != "acme" {
			t.Fatalf("message %d: id %q headers %v, want %s in order", i, d.MessageId, d.Headers, want)
		}
		if err := signing.Verify(amqpEP.Secret, h, d.Body, 24*time.Hour); err != nil {
			t.Errorf("amqp message %d signature: %v", i, err)
		}
	}
	for i := range n {
		m, err := st.GetMsg(context.Background(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		for k, vs := range m.Header {
			h.Set(k, vs[0])
		}
		if want := fmt.Sprintf("o-%02d", i); h.Get("webhook-id") != want {
			t.Fatalf("stream message %d is %q, want %s", i+1, h.Get("webhook-id"), want)
		}
		if err := signing.Verify(natsEP.Secret, h, m.Data, 24*time.Hour); err != nil {
			t.Errorf("nats message %d signature: %v", i, err)
		}
		if !strings.Contains(string(m.Data), fmt.Sprintf(`"data":{"i":%d}`, i)) {
			t.Errorf("nats body %s", m.Data)
		}
	}
}

// A missing exchange is a failed attempt with the broker's words.
func TestMissingExchangeIsAFailedAttempt(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	f := newFixture(t, apiFor(t, p), nil)
	f.endpoint(t, map[string]any{"url": "amqp://guest:guest@127.0.0.1:5672/?exchange=" + uniqueName(t, "none")})
	f.send(t, "lost", 1)
	ev := f.waitStatus(t, "lost", schemas.EventFailed, time.Minute)
	a := ev.Deliveries[0].Attempts
	if len(a) != 4 || !strings.Contains(a[0].Error, "NOT_FOUND") {
		t.Fatalf("attempts %+v, want 4 failed with NOT_FOUND", a)
	}
}

// A NATS server stopped mid-run fails the attempts to it and makes its
// source failing with the error; started again, the pending delivery goes
// through and the source consumes again, by themselves.
func TestBrokerStoppedAndStartedRecovers(t *testing.T) {
	longtest.Require(t, "a broker stopped and started")
	t.Parallel()
	ns := startNATS(t)
	nc, js := jetStream(t, ns.url())
	for _, name := range []string{"IN", "OUT"} {
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name,
			Subjects: []string{strings.ToLower(name) + ".>"}, Storage: jetstream.FileStorage}); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close() // the server goes away below (and the streams with it, at the end)
	p := startDev(t, t.TempDir(), map[string]string{"HERALD_RETRY_SCHEDULE": "300ms,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s"})
	f := newFixture(t, p.api, nil)
	rc := newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": rc.URL()})
	f.endpoint(t, map[string]any{"url": ns.url() + "?subject=out.hooks"})
	src := f.source(t, ns.url()+"?stream=IN&consumer=herald", f.eventType)
	f.waitSource(t, src.ID, schemas.SourceRunning)

	ns.stop()
	f.send(t, "during", 1)
	eventually(t, time.Minute, "two failed attempts to the stopped server", func() bool {
		for _, d := range f.event(t, "during").Deliveries {
			if len(d.Attempts) >= 2 && d.Attempts[1].Error != "" && d.Attempts[1].ResponseStatus == 0 {
				return true
			}
		}
		return false
	})
	failing := f.waitSource(t, src.ID, schemas.SourceFailing)
	if failing.LastError == "" {
		t.Fatalf("failing source without last_error: %+v", failing)
	}

	ns.start()
	f.waitStatus(t, "during", schemas.EventDelivered, time.Minute)
	f.waitSource(t, src.ID, schemas.SourceRunning)
	nc2, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	if err := nc2.PublishMsg(&nats.Msg{Subject: "in.x", Header: nats.Header{"Nats-Msg-Id": {"after"}}, Data: []byte(`{"ok":true}`)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the message published after the restart delivered", func() bool {
		for _, g := range rc.received() {
			if g.ID == "after" {
				return true
			}
		}
		return false
	})
}
