package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkSourceThroughput measures how fast one source turns messages
// into accepted events, beside the API path (POST .../events, 16 in
// flight) on the same `herald dev`, in events accepted per second:
//
//	go test ./cmd/herald -run '^$' -bench SourceThroughput -benchtime 2000x
//
// The messages are in the queue (or stream) before the source starts, so
// the figure is the consumer's pace, not the producer's. They carry no
// ordering key, so they are accepted one at a time (the queue's order).
func BenchmarkSourceThroughput(b *testing.B) {
	p := startDev(b, b.TempDir(), nil)
	f := newBenchFixture(b, p)
	rc := newReceiver(b, nil)
	f.api.must(201, "POST", "/v1/apps/"+f.app+"/endpoints", map[string]any{"url": rc.URL(), "ordered": false}, nil)

	b.Run("api", func(b *testing.B) {
		var wg sync.WaitGroup
		ids := make(chan int)
		start := time.Now()
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := p.api.withT(b)
				for i := range ids {
					c.must(202, "POST", "/v1/apps/"+f.app+"/events",
						map[string]any{"id": fmt.Sprintf("api-%d-%d", b.N, i), "event_type": f.eventType, "payload": map[string]int{"i": i}}, nil)
				}
			}()
		}
		for i := range b.N {
			ids <- i
		}
		close(ids)
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})

	b.Run("amqp", func(b *testing.B) {
		r := newRabbit(b)
		q := uniqueName(b, "bench")
		r.queue(q)
		for i := range b.N {
			r.publish(q, fmt.Sprintf("amqp-%d-%d", b.N, i), nil, fmt.Sprintf(`{"i":%d}`, i))
		}
		before := acceptedCount(b, p)
		start := time.Now()
		f.api.must(201, "POST", "/v1/apps/"+f.app+"/sources",
			map[string]any{"url": "amqp://guest:guest@127.0.0.1:5672/?queue=" + q, "event_type": f.eventType}, nil)
		eventually(b, 10*time.Minute, "every message accepted", func() bool { return acceptedCount(b, p)-before >= b.N })
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})

	b.Run("nats", func(b *testing.B) {
		nc, js := jetStream(b, natsURL)
		s := uniqueName(b, "BENCH")
		stream(b, js, s, s+".>")
		for i := range b.N {
			m := nats.NewMsg(s + ".in")
			m.Data = []byte(fmt.Sprintf(`{"i":%d}`, i))
			if _, err := js.PublishMsg(context.Background(), m); err != nil {
				b.Fatal(err)
			}
		}
		_ = nc
		before := acceptedCount(b, p)
		start := time.Now()
		f.api.must(201, "POST", "/v1/apps/"+f.app+"/sources",
			map[string]any{"url": natsURL + "?stream=" + s + "&consumer=herald", "event_type": f.eventType}, nil)
		eventually(b, 10*time.Minute, "every message accepted", func() bool { return acceptedCount(b, p)-before >= b.N })
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
}

type benchFixture struct {
	api       *apiClient
	app       string
	eventType string
}

func newBenchFixture(b *testing.B, p *devProc) benchFixture {
	f := benchFixture{api: p.api.withT(b), app: "bench", eventType: "bench.source"}
	f.api.must(201, "POST", "/v1/apps", map[string]any{"id": f.app, "name": "bench"}, nil)
	f.api.must(201, "POST", "/v1/event-types", map[string]any{"name": f.eventType}, nil)
	return f
}

func acceptedCount(b *testing.B, p *devProc) int {
	v := metricOf(b, p, `herald_source_messages_total{reason="",result="accepted"}`)
	n, _ := strconv.ParseFloat(v, 64)
	return int(n)
}
