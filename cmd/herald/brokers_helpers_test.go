package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The shared brokers on this machine (.ci/run starts them).
const (
	rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"
	natsURL   = "nats://127.0.0.1:4222"
)

// uniqueName makes a broker object name of the test's own.
func uniqueName(t testing.TB, prefix string) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("%s-%s-%d", prefix, name, time.Now().UnixNano())
}

// rabbit is a test's connection to the shared RabbitMQ.
type rabbit struct {
	t    testing.TB
	conn *amqp.Connection
	ch   *amqp.Channel
}

func newRabbit(t testing.TB) *rabbit {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatalf("RabbitMQ on 127.0.0.1:5672 (.ci/run starts it): %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rabbit{t: t, conn: conn, ch: ch}
}

// queue declares a durable queue deleted when the test ends.
func (r *rabbit) queue(name string) {
	r.t.Helper()
	if _, err := r.ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		if ch, err := r.conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(name, false, false, false)
			ch.Close()
		}
	})
}

// exchangeTo declares a direct exchange bound to queue with key.
func (r *rabbit) exchangeTo(exchange, queue, key string) {
	r.t.Helper()
	if err := r.ch.ExchangeDeclare(exchange, "direct", false, true, false, false, nil); err != nil {
		r.t.Fatal(err)
	}
	if err := r.ch.QueueBind(queue, key, exchange, false, nil); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		if ch, err := r.conn.Channel(); err == nil {
			_ = ch.ExchangeDelete(exchange, false, false)
			ch.Close()
		}
	})
}

func (r *rabbit) publish(queue, id string, headers amqp.Table, body string) {
	r.t.Helper()
	err := r.ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{
		MessageId: id, Headers: headers, Body: []byte(body), DeliveryMode: amqp.Persistent})
	if err != nil {
		r.t.Fatal(err)
	}
}

// depth is how many messages wait in the queue (ready, not unacked) and
// how many consumers it has.
func (r *rabbit) depth(queue string) (messages, consumers int) {
	r.t.Helper()
	ch, err := r.conn.Channel()
	if err != nil {
		r.t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return q.Messages, q.Consumers
}

// get takes one message off the queue (auto-ack), waiting up to timeout.
func (r *rabbit) get(queue string, timeout time.Duration) (amqp.Delivery, bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d, ok, err := r.ch.Get(queue, true)
		if err != nil {
			r.t.Fatal(err)
		}
		if ok || time.Now().After(deadline) {
			return d, ok
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jetStream connects to a NATS server with JetStream.
func jetStream(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("NATS at %s (.ci/run starts it): %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// stream makes a file-backed stream on subjects deleted when the test ends.
func stream(t testing.TB, js jetstream.JetStream, name string, subjects ...string) jetstream.Stream {
	t.Helper()
	s, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	return s
}

// natsServer is a nats-server process of a test's own, on a free port, so
// that the test can stop and start it without touching the shared one.
type natsServer struct {
	t    testing.TB
	port string
	dir  string
	cmd  *exec.Cmd
}

func startNATS(t testing.TB) *natsServer {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	s := &natsServer{t: t, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *natsServer) url() string { return "nats://127.0.0.1:" + s.port }

func (s *natsServer) start() {
	s.t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
	}
	s.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", s.port, "-js", "-sd", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start nats-server: %v", err)
	}
	eventually(s.t, 20*time.Second, "nats-server to listen", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+s.port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (s *natsServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
