package amqpbroker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/broker/amqpbroker"
	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/schemas"
)

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

// fixture is a queue of the test's own, bound to an exchange of its own.
type fixture struct {
	t        *testing.T
	ch       *amqp.Channel
	queue    string
	exchange string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatalf("RabbitMQ on 127.0.0.1:5672 (.ci/run starts it): %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	f := fixture{t: t, ch: ch, queue: "q-" + name, exchange: "x-" + name}
	if _, err := ch.QueueDeclare(f.queue, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(f.exchange, "direct", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(f.queue, "rk", f.exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(f.queue, false, false, false)
		_ = ch.ExchangeDelete(f.exchange, false, false)
	})
	return f
}

func newBroker(t *testing.T, cfg broker.Config) *amqpbroker.Broker {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	b := amqpbroker.New(cfg)
	t.Cleanup(func() { b.Close() })
	return b
}

func request(url string, body string) outbound.Request {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h["webhook-id"] = []string{"evt_1"}
	h["webhook-signature"] = []string{"v1,abc"}
	h.Set("X-Tenant", "acme")
	return outbound.Request{Endpoint: schemas.Endpoint{ID: "ep_1", URL: url}, Header: h, Body: []byte(body)}
}

func TestSendConfirmedWithHeaders(t *testing.T) {
	f := newFixture(t)
	b := newBroker(t, broker.Config{AllowPrivateNetworks: true})
	ans, err := b.Send(context.Background(), request(rabbitURL+"?exchange="+f.exchange+"&routing_key=rk", `{"a":1}`))
	if err != nil || !ans.OK() {
		t.Fatalf("send: %+v %v", ans, err)
	}
	d, ok, err := f.ch.Get(f.queue, true)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if string(d.Body) != `{"a":1}` || d.MessageId != "evt_1" || d.ContentType != "application/json" ||
		d.Headers["webhook-id"] != "evt_1" || d.Headers["webhook-signature"] != "v1,abc" || d.Headers["x-tenant"] != "acme" {
		t.Fatalf("message %+v headers %v", d, d.Headers)
	}
}

func TestSendFailures(t *testing.T) {
	f := newFixture(t)
	b := newBroker(t, broker.Config{AllowPrivateNetworks: true})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	for name, tc := range map[string]struct{ url, want string }{
		"missing exchange": {rabbitURL + "?exchange=no-such-" + f.exchange, "NOT_FOUND"},
		"unroutable":       {rabbitURL + "?exchange=" + f.exchange + "&routing_key=nobody", "NO_ROUTE"},
		"unreachable":      {"amqp://guest:guest@" + closed + "/?exchange=x", "connection refused"},
		"bad credentials":  {"amqp://guest:wrong@127.0.0.1:5672/?exchange=" + f.exchange, "403"},
	} {
		t.Run(name, func(t *testing.T) {
			ans, err := b.Send(context.Background(), request(tc.url, `{}`))
			if err != nil || ans.OK() || !strings.Contains(ans.Err, tc.want) {
				t.Fatalf("answer %+v err %v, want a failure with %q", ans, err, tc.want)
			}
		})
	}
	// The connection survives a closed channel: the next publish goes through.
	ans, err := b.Send(context.Background(), request(rabbitURL+"?exchange="+f.exchange+"&routing_key=rk", `{}`))
	if err != nil || !ans.OK() {
		t.Fatalf("send after failures: %+v %v", ans, err)
	}
}

func TestSendRefusesPrivateAddressUnlessAllowed(t *testing.T) {
	f := newFixture(t)
	b := newBroker(t, broker.Config{})
	ans, err := b.Send(context.Background(), request(rabbitURL+"?exchange="+f.exchange+"&routing_key=rk", `{}`))
	if err != nil || ans.OK() || !strings.Contains(ans.Err, "private") {
		t.Fatalf("answer %+v err %v, want the private-network refusal", ans, err)
	}
}

// Idle publishing connections are closed, and a new publish dials again:
// the pool (broker.Publisher, shared by every transport) against a real
// broker.
func TestIdleConnectionClosed(t *testing.T) {
	f := newFixture(t)
	b := newBroker(t, broker.Config{AllowPrivateNetworks: true, IdleTimeout: 200 * time.Millisecond})
	url := rabbitURL + "?exchange=" + f.exchange + "&routing_key=rk"
	if ans, _ := b.Send(context.Background(), request(url, `{}`)); !ans.OK() {
		t.Fatal(ans.Err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.PooledConnections() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle connection is still open")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ans, _ := b.Send(context.Background(), request(url, `{}`)); !ans.OK() {
		t.Fatal(ans.Err)
	}
	if n := b.PooledConnections(); n != 1 {
		t.Fatalf("%d pooled connections after a new publish, want 1", n)
	}
}

// Consume hands messages over in order with their id and headers; an
// acknowledged message is gone, a rejected one is not redelivered, and an
// unsettled one comes back to the next consumer. A second consumer of the
// queue is refused while the first holds it.
func TestConsume(t *testing.T) {
	f := newFixture(t)
	b := newBroker(t, broker.Config{})
	for i, id := range []string{"a", "b", "c"} {
		err := f.ch.PublishWithContext(context.Background(), "", f.queue, false, false, amqp.Publishing{
			MessageId: id, Headers: amqp.Table{"Herald-Event-Type": "t", "n": int32(i)}, Body: []byte(id)})
		if err != nil {
			t.Fatal(err)
		}
	}
	src := rabbitURL + "?queue=" + f.queue
	got := make(chan broker.Delivery, 10)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, src, 10, func() { close(ready) }, func(d broker.Delivery) { got <- d }) }()
	<-ready
	var ds []broker.Delivery
	for range 3 {
		select {
		case d := <-got:
			ds = append(ds, d)
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
	}
	if ds[0].ID != "a" || ds[1].ID != "b" || ds[2].ID != "c" || ds[0].Header["herald-event-type"] != "t" || string(ds[2].Body) != "c" {
		t.Fatalf("deliveries %+v", ds)
	}
	err := b.Consume(context.Background(), src, 10, func() {}, func(broker.Delivery) {})
	if err == nil || !strings.Contains(err.Error(), "exclusive") {
		t.Fatalf("second consumer: %v, want refused as exclusive", err)
	}
	if err := ds[0].Ack(); err != nil {
		t.Fatal(err)
	}
	if err := ds[1].Reject(); err != nil {
		t.Fatal(err)
	}
	cancel() // c stays unsettled
	if err := <-done; err != nil {
		t.Fatalf("consume ended with %v", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() {
		_ = b.Consume(ctx2, src, 10, func() {}, func(d broker.Delivery) { got <- d })
	}()
	select {
	case d := <-got:
		if d.ID != "c" {
			t.Fatalf("redelivered %q, want only c", d.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the unsettled message did not come back")
	}
	select {
	case d := <-got:
		t.Fatalf("also got %q", d.ID)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestConsumeMissingQueue(t *testing.T) {
	b := newBroker(t, broker.Config{})
	err := b.Consume(context.Background(), rabbitURL+"?queue=no-such-queue-"+fmt.Sprint(time.Now().UnixNano()), 1,
		func() { t.Error("ready without a queue") }, func(broker.Delivery) {})
	if err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("err %v", err)
	}
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err %v does not wrap the broker's", err)
	}
}
