package chaos

import (
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// verdict is how a receiver answers one POST.
type verdict int

const (
	answerOK       verdict = iota // 200 or 204
	answerSlowOK                  // 200 after up to 80% of Herald's delivery timeout
	answerFail                    // 500 or 503
	answerThrottle                // 429 with Retry-After
	answerGone                    // 410: final, and Herald disables the endpoint
	answerHang                    // no answer until Herald gives up (its delivery timeout)
	answerReset                   // the connection is reset (RST) without an answer
)

func (v verdict) String() string {
	return [...]string{"2xx", "slow 2xx", "5xx", "429", "410", "hang", "reset"}[v]
}

// behaviour decides the verdicts of one receiver. A verdict depends only on
// the seed, the receiver's name, the event id and how many POSTs of that
// event the receiver got before, so a seed gives the same answers whatever
// the timing.
type behaviour struct {
	seed     uint64
	failRate float64 // share of answers that are not 2xx
	goneRate float64 // share of answers that are 410
}

func (b behaviour) verdict(name, eventID string, n int) verdict {
	h := fnv.New64a()
	h.Write([]byte(name + "\x00" + eventID + "\x00" + strconv.Itoa(n)))
	u := rand.New(rand.NewPCG(b.seed, h.Sum64())).Float64()
	switch {
	case u < b.goneRate:
		return answerGone
	case u >= b.failRate && (u-b.failRate)/(1-b.failRate) < 0.15:
		// A slow success keeps an attempt under way long enough for a
		// cancel or a replay to land meanwhile.
		return answerSlowOK
	case u >= b.failRate:
		return answerOK
	}
	// The failures, in shares of failRate: 40% 5xx, 20% each of 429, hang, reset.
	switch f := (u - b.goneRate) / (b.failRate - b.goneRate); {
	case f < 0.4:
		return answerFail
	case f < 0.6:
		return answerThrottle
	case f < 0.8:
		return answerHang
	default:
		return answerReset
	}
}

// request is one POST a receiver got: when it arrived and left, what it
// carried and what it was answered.
type request struct {
	eventID string
	n       int // this event's n-th POST at this receiver
	verdict verdict
	arrived time.Time
	left    time.Time // the answer, the reset, or when Herald gave up
	ok      bool      // answered 2xx
	header  http.Header
	body    []byte
}

// receiver is one endpoint's webhook receiver on 127.0.0.1.
type receiver struct {
	name    string
	behave  behaviour
	timeout time.Duration // Herald's delivery timeout: a hang lasts past it
	srv     *httptest.Server

	mu     sync.Mutex
	got    []*request
	counts map[string]int
}

func newReceiver(name string, b behaviour, timeout time.Duration) *receiver {
	rc := &receiver{name: name, behave: b, timeout: timeout, counts: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/hook" }

func (rc *receiver) close() {
	rc.srv.CloseClientConnections()
	rc.srv.Close()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	rc.counts[id]++
	req := &request{eventID: id, n: rc.counts[id], arrived: arrived, header: r.Header.Clone(), body: body}
	req.verdict = rc.behave.verdict(rc.name, id, req.n)
	rc.got = append(rc.got, req)
	rc.mu.Unlock()

	left, ok := rc.answer(w, r, req.verdict, req.n)
	rc.mu.Lock()
	req.left, req.ok = left, ok
	rc.mu.Unlock()
}

// answer answers as v says and returns when the request ended for Herald
// and whether it was answered 2xx.
func (rc *receiver) answer(w http.ResponseWriter, r *http.Request, v verdict, n int) (time.Time, bool) {
	switch v {
	case answerOK:
		w.WriteHeader([]int{http.StatusOK, http.StatusNoContent}[n%2])
		return time.Now(), true
	case answerSlowOK:
		select {
		case <-r.Context().Done():
		case <-time.After(rc.timeout * time.Duration(2+n%7) / 10):
			w.WriteHeader(http.StatusOK)
			return time.Now(), true
		}
	case answerFail:
		w.WriteHeader([]int{http.StatusInternalServerError, http.StatusServiceUnavailable}[n%2])
	case answerThrottle:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	case answerGone:
		w.WriteHeader(http.StatusGone)
	case answerHang:
		arrived := time.Now()
		select {
		case <-r.Context().Done():
		case <-time.After(3 * rc.timeout):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		// Herald's clock started before the request arrived, so it gave up
		// by arrival + timeout even if this handler saw it later.
		return minTime(time.Now(), arrived.Add(rc.timeout)), false
	case answerReset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			w.WriteHeader(http.StatusInternalServerError)
			break
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			break
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // close with RST, not FIN
		}
		conn.Close()
	}
	return time.Now(), false
}

// requests is a copy of what the receiver got so far.
func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]request, len(rc.got))
	for i, r := range rc.got {
		out[i] = *r
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
