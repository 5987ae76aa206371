package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
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
	want := percentiles{p50: 50, p95: 95, p99: 99, max: 100}
	if got != want {
		t.Errorf("1..100 ms: got %+v, want %+v", got, want)
	}

	if got := latencyPercentiles([]time.Duration{ms(7)}); got != (percentiles{7, 7, 7, 7}) {
		t.Errorf("one sample: got %+v", got)
	}
	if got := latencyPercentiles(nil); got != (percentiles{}) {
		t.Errorf("no sample: got %+v", got)
	}
	// Nearest rank: of 10 samples the 95th and 99th percentiles are the max.
	ten := []time.Duration{ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(7), ms(8), ms(9), ms(10)}
	if got := latencyPercentiles(ten); got != (percentiles{5, 10, 10, 10}) {
		t.Errorf("1..10 ms: got %+v", got)
	}
}

func TestMeasure(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rec, err := newRecorder([]string{testSecret(t), testSecret(t)})
	if err != nil {
		t.Fatal(err)
	}
	sends := map[string]sent{
		"a": {sendAt: t0, acceptAt: t0.Add(ms(5))},
		"b": {sendAt: t0.Add(ms(10)), acceptAt: t0.Add(ms(25))},
	}
	arrive := func(ep int, id string, at time.Duration) {
		h := http.Header{}
		h.Set(signing.HeaderID, id)
		rec.arrive(ep, h, nil, t0.Add(at))
	}
	arrive(0, "a", ms(20))
	arrive(1, "a", ms(30))
	arrive(0, "b", ms(40))
	arrive(1, "b", ms(1500)) // the last receipt: 4 deliveries in 1.5 s
	arrive(1, "b", ms(1600)) // a duplicate counts for nothing
	arrive(0, "zz", ms(50))  // an id never sent

	f := measure(rec, sends, t0, 2)
	if f.Deliveries != 4 || f.DeliveredPerS != 4/1.5 || f.AcceptedPerS != 2/0.025 {
		t.Errorf("got %v deliveries, %.2f delivered/s, %.1f accepted/s; want 4, 2.67, 80", f.Deliveries, f.DeliveredPerS, f.AcceptedPerS)
	}
	// Send to receipt: 20, 30, 30, 1490 ms; accept to receipt: 15, 25, 15, 1475 ms.
	if f.P50Ms != 30 || f.MaxMs != 1490 || f.AcceptP50Ms != 15 || f.AcceptMaxMs != 1475 {
		t.Errorf("latencies: %+v", f)
	}
	if f.Duplicates != 1 || f.UnknownIDs != 1 {
		t.Errorf("duplicates %v, unknown ids %v; want 1 and 1", f.Duplicates, f.UnknownIDs)
	}
	// Every receipt is verified; none was signed.
	if f.SignaturesChecked != 6 || f.SignatureFailures != 6 {
		t.Errorf("checked %v, failures %v; want 6 and 6", f.SignaturesChecked, f.SignatureFailures)
	}
	// Second 1: both accepted (4 owed), 3 received; second 2: the last.
	want := []Bin{{T: 1, Receipts: 3, P50Ms: 30, P99Ms: 30, Backlog: 1}, {T: 2, Receipts: 1, P50Ms: 1490, P99Ms: 1490, Backlog: 0}}
	if len(f.Timeline) != 2 || f.Timeline[0] != want[0] || f.Timeline[1] != want[1] {
		t.Errorf("timeline %+v, want %+v", f.Timeline, want)
	}
	if f.BacklogMax != 1 {
		t.Errorf("backlog max %v, want 1", f.BacklogMax)
	}
	// b's second receipt came 1460 ms after the one before it.
	if f.GapMaxMs != 1460 {
		t.Errorf("longest gap %v ms, want 1460", f.GapMaxMs)
	}
}

// A stall is time with deliveries owed and none arriving; time with nothing
// owed is no stall, however long.
func TestLongestGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(n int) time.Time { return t0.Add(ms(n)) }
	sends := map[string]sent{"a": {sendAt: at(0)}, "b": {sendAt: at(5000)}, "c": {sendAt: at(5100)}}
	rs := []receipt{
		{at: at(100), sent: sends["a"]},  // 100 ms after a's send
		{at: at(5200), sent: sends["b"]}, // nothing owed from 100 to 5000: 200 ms
		{at: at(5900), sent: sends["c"]}, // 700 ms after b's receipt
	}
	if got := longestGap(rs, sends, 1); got != ms(700) {
		t.Errorf("longest gap %v, want 700ms", got)
	}
	if got := longestGap(nil, nil, 1); got != 0 {
		t.Errorf("no receipts: %v, want 0", got)
	}
}

func testSecret(t *testing.T) string {
	t.Helper()
	s, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOutOfOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(n int) time.Time { return t0.Add(ms(n)) }
	// a then b then c, one after another (each sent after the previous 202);
	// d and e overlap c (sent before c's 202), so they may pass it.
	sends := map[string]sent{
		"a": {at(0), at(10), ""},
		"b": {at(11), at(20), ""},
		"c": {at(21), at(30), ""},
		"d": {at(22), at(31), ""},
		"e": {at(25), at(32), ""},
		"k": {at(12), at(13), "other key"}, // sent after a's 202
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
		{"another key passes", order("k", "a", "b"), 0},
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
	rec, err := recv.Record("test", secrets)
	if err != nil {
		t.Fatal(err)
	}
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
	if rec.Verified() != 3 || rec.SignatureFailures() != 0 {
		t.Errorf("verified %d, failures %d; want 3 and 0", rec.Verified(), rec.SignatureFailures())
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
	if recv.Strays() != 2 {
		t.Errorf("strays %d, want 2", recv.Strays())
	}

	// A body changed after signing fails the official verifier.
	w := webhook{URL: recv.URL("test", 0), ID: "m4", EventType: "t", CreatedAt: time.Now(), Payload: json.RawMessage(`{"x":1}`), Secret: testSecret(t)}
	if err := w.post(ctx, hc); err != nil {
		t.Fatal(err)
	}
	if rec.SignatureFailures() != 1 {
		t.Errorf("a webhook signed with another secret: failures %d, want 1", rec.SignatureFailures())
	}
}

func TestSummarizeAndRatios(t *testing.T) {
	herald := []Figures{{CPUMsPerDelivery: 10, DeliveredPerS: 100}, {CPUMsPerDelivery: 30, DeliveredPerS: 50}, {CPUMsPerDelivery: 12, DeliveredPerS: 90}}
	floor := []Figures{{CPUMsPerDelivery: 10, DeliveredPerS: 100}, {CPUMsPerDelivery: 20, DeliveredPerS: 100}, {CPUMsPerDelivery: 8, DeliveredPerS: 90}}
	s := summarize(herald)
	if s.Median.CPUMsPerDelivery != 12 || s.Min.CPUMsPerDelivery != 10 || s.Max.CPUMsPerDelivery != 30 || s.Median.DeliveredPerS != 90 {
		t.Errorf("summary %+v", s)
	}
	// Round by round: 1.0, 1.5, 1.5 for CPU; 1.0, 0.5, 1.0 for delivered/s.
	r := ratiosOf(herald, floor)
	if r.CPUPerDelivery != (Stat{1.5, 1, 1.5}) || r.DeliveredPerS != (Stat{1, 0.5, 1}) {
		t.Errorf("ratios %+v", r)
	}
	if got := statOf([]float64{4, 1, 3, 2}); got != (Stat{2.5, 1, 4}) {
		t.Errorf("even count: %+v", got)
	}
}

func TestOpenLoopKeepsItsRate(t *testing.T) {
	// 20 sends at 100/s take ~190 ms even though each call blocks 300 ms:
	// the schedule does not wait for answers.
	var mu sync.Mutex
	var starts []time.Time
	begin := time.Now()
	openLoop(context.Background(), 20, 100, func(ctx context.Context, i int) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(300 * time.Millisecond) // stands for a slow answer
	})
	if len(starts) != 20 {
		t.Fatalf("%d sends, want 20", len(starts))
	}
	last := slices.MaxFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	if d := last.Sub(begin); d < 180*time.Millisecond || d > 290*time.Millisecond {
		t.Errorf("last send %s after the first, want about 190 ms", d)
	}
}

func TestProcCounters(t *testing.T) {
	pid := os.Getpid()
	before, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ { // burn CPU until the counter moves
		if after, err := procCPU(pid); err != nil {
			t.Fatal(err)
		} else if after > before {
			break
		}
	}
	if after, _ := procCPU(pid); after <= before {
		t.Errorf("CPU time did not grow: %s then %s", before, after)
	}
	rss, peak, err := procRSS(pid)
	if err != nil || rss <= 0 || peak < rss {
		t.Errorf("rss %v MiB, peak %v MiB, err %v", rss, peak, err)
	}
}

func TestWriteResult(t *testing.T) {
	f := Figures{AcceptedPerS: 50, DeliveredPerS: 40, CompletedPerS: 38, CPUMsPerDelivery: 12.5}
	r := Result{Settings: Settings{Events: 10, Endpoints: 1, Concurrency: 2, Rounds: 1, Floor: FloorRecorded, Target: "herald dev"},
		Herald: summarize([]Figures{f}), Floor: summarize([]Figures{f}), HeraldOverFloor: ratiosOf([]Figures{f}, []Figures{f})}
	var b bytes.Buffer
	if err := writeResult(&b, r, true); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, b.String())
	}
	for _, k := range []string{"settings", "herald", "floor", "herald_over_floor", "history_events_per_event", "herald_process_rss_mib"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	med := m["herald"].(map[string]any)["median"].(map[string]any)
	for _, k := range []string{"accepted_events_per_s", "delivered_per_s", "completed_deliveries_per_s", "cpu_ms_per_delivery",
		"send_to_receipt_p99_ms", "accept_to_receipt_p99_ms", "backlog_max", "signature_failures", "unknown_ids", "out_of_order", "duplicates"} {
		if _, ok := med[k]; !ok {
			t.Errorf("herald.median lacks %q", k)
		}
	}
	b.Reset()
	if err := writeResult(&b, r, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"herald", "floor", "CPU ms per delivery", "12.50", "herald / floor (per round): CPU per delivery 1.000"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}
