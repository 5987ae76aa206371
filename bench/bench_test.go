package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/signing"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestLatencyPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		d = append(d, ms(i))
	}
	got := latencyPercentiles(d)
	want := percentiles{p50: 50, p95: 95, p99: 99}
	if got != want {
		t.Errorf("1..100 ms: got %+v, want %+v", got, want)
	}

	if got := latencyPercentiles([]time.Duration{ms(7)}); got != (percentiles{7, 7, 7}) {
		t.Errorf("one sample: got %+v", got)
	}
	if got := latencyPercentiles(nil); got != (percentiles{}) {
		t.Errorf("no sample: got %+v", got)
	}
	// Nearest rank: of 10 samples the 95th and 99th percentiles are the max.
	ten := []time.Duration{ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(7), ms(8), ms(9), ms(10)}
	if got := latencyPercentiles(ten); got != (percentiles{5, 10, 10}) {
		t.Errorf("1..10 ms: got %+v", got)
	}
}

func TestMeasure(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rec := newRecorder([]string{"", ""})
	sends := map[string]sent{
		"a": {sendAt: t0, acceptAt: t0.Add(ms(5))},
		"b": {sendAt: t0.Add(ms(10)), acceptAt: t0.Add(ms(15))},
	}
	arrive := func(ep int, id string, at time.Duration) {
		h := http.Header{}
		h.Set(signing.HeaderID, id)
		rec.arrive(ep, h, nil, t0.Add(at))
	}
	arrive(0, "a", ms(20))
	arrive(1, "a", ms(30))
	arrive(0, "b", ms(40))
	arrive(1, "b", ms(50)) // the last receipt: 4 deliveries in 50 ms
	arrive(1, "b", ms(60)) // a duplicate counts for nothing

	p := measure(rec, sends, t0, 2)
	if p.deliveriesPerS != 80 || p.eventsPerS != 40 {
		t.Errorf("got %.1f deliveries/s and %.1f events/s, want 80 and 40", p.deliveriesPerS, p.eventsPerS)
	}
	// Latencies: 20, 30, 30, 40 ms.
	if p.lat != (percentiles{30, 40, 40}) {
		t.Errorf("latencies: got %+v", p.lat)
	}
	if rec.Delivered() != 4 || rec.Duplicates() != 1 {
		t.Errorf("delivered %d, duplicates %d; want 4 and 1", rec.Delivered(), rec.Duplicates())
	}
	// The sampled first receipt of each endpoint had no valid signature.
	if rec.Verified() != 2 || rec.SignatureFailures() != 2 {
		t.Errorf("verified %d, failures %d; want 2 and 2", rec.Verified(), rec.SignatureFailures())
	}
}

func TestOutOfOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(n int) time.Time { return t0.Add(ms(n)) }
	// a then b then c, one after another (each sent after the previous 202);
	// d and e overlap c (sent before c's 202), so they may pass it.
	sends := map[string]sent{
		"a": {at(0), at(10)},
		"b": {at(11), at(20)},
		"c": {at(21), at(30)},
		"d": {at(22), at(31)},
		"e": {at(25), at(32)},
	}
	order := func(ids ...string) []arrival {
		out := make([]arrival, len(ids))
		for i, id := range ids {
			out[i] = arrival{id: id, at: at(100 + i)}
		}
		return out
	}
	cases := []struct {
		name     string
		arrivals []arrival
		want     int
	}{
		{"in order", order("a", "b", "c", "d", "e"), 0},
		{"concurrent ones swapped", order("a", "b", "e", "d", "c"), 0},
		{"b before a", order("b", "a", "c", "d", "e"), 1},
		{"c, d and e before b", order("a", "c", "d", "e", "b"), 3},
		{"reversed", order("e", "d", "c", "b", "a"), 4},
		{"unknown ids ignored", order("x", "a", "b", "y"), 0},
	}
	for _, c := range cases {
		if got := outOfOrder(c.arrivals, sends); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

// TestReceiversRecordAndVerify sends signed webhooks to the receivers as
// the raw loop does: they arrive, in order, and their signatures verify.
func TestReceiversRecordAndVerify(t *testing.T) {
	recv, err := StartReceivers(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	secrets, err := newSecrets(1)
	if err != nil {
		t.Fatal(err)
	}
	rec := recv.Record("test", secrets)
	hc := keepAliveClient(1)
	ctx := context.Background()
	ids := []string{"m1", "m2", "m3"}
	for _, id := range ids {
		w := webhook{URL: recv.URL("test", 0), ID: id, EventType: "t", CreatedAt: time.Now(), Payload: json.RawMessage(`{"x":1}`), Secret: secrets[0]}
		if err := w.post(ctx, hc); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Wait(ctx, 3, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range rec.Arrivals()[0] {
		got = append(got, a.id)
	}
	if strings.Join(got, ",") != "m1,m2,m3" {
		t.Errorf("arrivals %v", got)
	}
	if rec.Verified() != 1 || rec.SignatureFailures() != 0 {
		t.Errorf("verified %d, failures %d; want 1 and 0", rec.Verified(), rec.SignatureFailures())
	}

	// A phase nobody records, or an endpoint out of range: 404.
	for _, u := range []string{recv.URL("nobody", 0), recv.URL("test", 1)} {
		resp, err := hc.Post(u, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", u, resp.StatusCode)
		}
	}
}

func TestWriteResult(t *testing.T) {
	r := Result{Events: 10, Endpoints: 1, Concurrency: 2, Ordered: true, EventsPerS: 50, DeliveriesPerS: 40,
		RawDeliveriesPerS: 4000, FloorDeliveriesPerS: 50, RatioVsRaw: 0.01, RatioVsFloor: 0.8, Target: "herald dev"}
	var b bytes.Buffer
	if err := writeResult(&b, r, true); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, b.String())
	}
	for _, k := range []string{"events_per_s", "deliveries_per_s", "p50_ms", "p95_ms", "p99_ms",
		"temporal_floor_events_per_s", "temporal_floor_p50_ms", "raw_deliveries_per_s", "raw_p50_ms",
		"ratio_vs_floor", "ratio_vs_raw", "history_events_per_event", "out_of_order", "signature_failures",
		"events", "endpoints", "concurrency", "ordered"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	b.Reset()
	if err := writeResult(&b, r, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Herald", "raw sign+POST loop", "Temporal floor", "0.800"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}
