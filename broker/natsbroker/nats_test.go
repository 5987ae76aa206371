package natsbroker_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/broker/natsbroker"
	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/schemas"
)

const natsURL = "nats://127.0.0.1:4222"

// newStream makes a stream of the test's own on subject <name>.>.
func newStream(t *testing.T) (jetstream.JetStream, string) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatalf("NATS on 127.0.0.1:4222 (.ci/run starts it): %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	return js, name
}

func newBroker(t *testing.T, cfg broker.Config) *natsbroker.Broker {
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	b := natsbroker.New(cfg)
	t.Cleanup(func() { b.Close() })
	return b
}

func request(url string) outbound.Request {
	h := http.Header{}
	h["webhook-id"] = []string{"evt_1"}
	h.Set("X-Tenant", "acme")
	return outbound.Request{Endpoint: schemas.Endpoint{ID: "ep_1", URL: url}, Header: h, Body: []byte(`{"a":1}`)}
}

func TestSendAcknowledgedWithHeaders(t *testing.T) {
	js, name := newStream(t)
	b := newBroker(t, broker.Config{AllowPrivateNetworks: true})
	ans, err := b.Send(context.Background(), request(natsURL+"?subject="+name+".hooks"))
	if err != nil || !ans.OK() {
		t.Fatalf("send: %+v %v", ans, err)
	}
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != `{"a":1}` || m.Header.Get("webhook-id") != "evt_1" || m.Header.Get("x-tenant") != "acme" {
		t.Fatalf("stored %s %v", m.Data, m.Header)
	}
}

func TestSendFailures(t *testing.T) {
	b := newBroker(t, broker.Config{AllowPrivateNetworks: true})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	for name, tc := range map[string]struct{ url, want string }{
		"no stream":   {natsURL + "?subject=nobody.listens." + fmt.Sprint(time.Now().UnixNano()), "no response from stream"},
		"unreachable": {"nats://" + closed + "?subject=s", "no servers available"},
	} {
		t.Run(name, func(t *testing.T) {
			ans, err := b.Send(context.Background(), request(tc.url))
			if err != nil || ans.OK() || !strings.Contains(ans.Err, tc.want) {
				t.Fatalf("answer %+v err %v, want a failure with %q", ans, err, tc.want)
			}
		})
	}
	p := newBroker(t, broker.Config{})
	if ans, _ := p.Send(context.Background(), request(natsURL+"?subject=s")); ans.OK() || !strings.Contains(ans.Err, "private") {
		t.Fatalf("private address: %+v", ans)
	}
}

// Consume creates the durable consumer when missing and hands messages
// over in order with id, headers and a stable key; a terminated message is
// not redelivered, an unsettled one is.
func TestConsume(t *testing.T) {
	js, name := newStream(t)
	for _, id := range []string{"a", "b", "c"} {
		m := nats.NewMsg(name + ".in")
		m.Header.Set("Nats-Msg-Id", id)
		m.Header.Set("Herald-Event-Type", "t")
		m.Data = []byte(id)
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	b := newBroker(t, broker.Config{})
	src := natsURL + "?stream=" + name + "&consumer=herald"
	got := make(chan broker.Delivery, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, src, 10, func() {}, func(d broker.Delivery) { got <- d }) }()
	var ds []broker.Delivery
	for range 3 {
		select {
		case d := <-got:
			ds = append(ds, d)
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
	}
	if ds[0].ID != "a" || ds[2].ID != "c" || ds[0].Header["herald-event-type"] != "t" || ds[0].Key != name+"/1" || ds[0].Time.IsZero() {
		t.Fatalf("deliveries %+v", ds)
	}
	if err := ds[0].Ack(); err != nil {
		t.Fatal(err)
	}
	if err := ds[1].Reject(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("consume ended with %v", err)
	}
	// c comes back once the consumer's ack wait passes; shorten it.
	if _, err := js.UpdateConsumer(context.Background(), name, jetstream.ConsumerConfig{Durable: "herald",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _ = b.Consume(ctx2, src, 10, func() {}, func(d broker.Delivery) { got <- d }) }()
	select {
	case d := <-got:
		if d.ID != "c" {
			t.Fatalf("redelivered %q, want only c", d.ID)
		}
		_ = d.Ack()
	case <-time.After(15 * time.Second):
		t.Fatal("the unsettled message did not come back")
	}
}

func TestConsumeMissingStream(t *testing.T) {
	b := newBroker(t, broker.Config{})
	err := b.Consume(context.Background(), natsURL+"?stream=no-such-stream&consumer=c", 1,
		func() { t.Error("ready without a stream") }, func(broker.Delivery) {})
	if err == nil || !strings.Contains(err.Error(), "stream not found") {
		t.Fatalf("err %v", err)
	}
}
