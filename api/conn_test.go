package api_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/api"
)

// rawConn opens a TCP connection to the harness and writes head (and body).
func rawConn(t *testing.T, h *harness, head string, body []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		if _, err := c.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func postHead(path string, length int, auth bool) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "POST %s HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, length)
	if auth {
		sb.WriteString("Authorization: Bearer " + token + "\r\n")
	}
	sb.WriteString("\r\n")
	return sb.String()
}

// readAnswer reads one HTTP answer from c; closing says whether the server
// announced it closes the connection.
func readAnswer(t *testing.T, c net.Conn) (r resp, closing bool) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}, res.Close
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Many connections that declare a 1 MiB body and then drip it, with and
// without a token, cost Herald a few KiB each, not the declared length
// (they cost ~2 MiB each when fasthttp sized its buffer from it).
func TestDrippingBodiesDoNotHoldMemory(t *testing.T) {
	h := newHarness(t, func(d *api.Deps) { d.Config.MaxPayloadBytes = 1 << 20 })
	const conns = 100
	prefix := bytes.Repeat([]byte(" "), 9<<10) // some of the body: the handlers run and read it
	before := heapInUse()
	base := h.ln.BytesRead()
	sent := 0
	for i := range conns {
		head := postHead("/v1/apps", 1<<20, i%2 == 0)
		rawConn(t, h, head, prefix)
		sent += len(head) + len(prefix)
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.ln.BytesRead()-base < int64(sent) {
		if time.Now().After(deadline) {
			t.Fatalf("server read %d of %d bytes", h.ln.BytesRead()-base, sent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := heapInUse()
	grew := int64(after) - int64(before)
	t.Logf("heap in use grew %d KiB for %d connections declaring 1 MiB (%d KiB each)", grew>>10, conns, grew/conns>>10)
	if grew > conns*128<<10 {
		t.Fatalf("heap grew %d KiB for %d dripping connections: bodies are buffered by their declared length", grew>>10, conns)
	}
}

// An oversized body is answered 413 and the client receives it: a body
// declared too long is never read (the connection closes after a lingering
// close, so the answer is not lost to a reset); a chunked one is read and
// discarded up to a bound, and the connection serves the next request.
func TestOversizedBodyAnswer413Arrives(t *testing.T) {
	h := newHarness(t) // MaxPayloadBytes 4096
	body := append([]byte(`{"name":"`), bytes.Repeat([]byte("x"), 8000)...)
	body = append(body, `"}`...)
	c := rawConn(t, h, postHead("/v1/apps", len(body), true), body)
	r, closing := readAnswer(t, c)
	if r.status != 413 || !closing {
		t.Fatalf("declared too long: %d, closing %v", r.status, closing)
	}
	checkError(t, r, "payload_too_large")

	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	c = rawConn(t, h, "POST /v1/apps HTTP/1.1\r\nHost: herald\r\nTransfer-Encoding: chunked\r\n"+
		"Authorization: Bearer "+token+"\r\n\r\n", []byte(chunked))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	checkError(t, resp{status: res.StatusCode, header: res.Header, body: b}, "payload_too_large")
	ok := []byte(`{"name":"next"}`)
	if _, err := io.WriteString(c, postHead("/v1/apps", len(ok), true)+string(ok)); err != nil {
		t.Fatal(err)
	}
	if res, err = http.ReadResponse(br, nil); err != nil || res.StatusCode != 201 {
		t.Fatalf("next request on the connection: %v %v", res, err)
	}

	// A client that writes its whole body before it reads (many do), with
	// a body far past the drain bound: without the lingering close its
	// write or its read meets a reset instead of the answer.
	for _, auth := range []bool{true, false} {
		c := rawConn(t, h, postHead("/v1/apps", 6<<20, auth), nil)
		_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write(bytes.Repeat([]byte("x"), 6<<20)); err != nil {
			t.Fatalf("auth=%v: writing the body: %v", auth, err)
		}
		r, _ := readAnswer(t, c)
		want, code := 413, "payload_too_large"
		if !auth {
			want, code = 401, "unauthorized"
		}
		if r.status != want {
			t.Fatalf("auth=%v: status %d, want %d: %s", auth, r.status, want, r.body)
		}
		checkError(t, r, code)
	}
}

// A gzip body is decompressed within the same bound: a bomb is a 413.
func TestGzipBodyBounded(t *testing.T) {
	h := newHarness(t)
	var small, bomb bytes.Buffer
	zw := gzip.NewWriter(&small)
	_, _ = zw.Write([]byte(`{"name":"zipped"}`))
	zw.Close()
	zw = gzip.NewWriter(&bomb)
	_, _ = zw.Write([]byte(`{"name":"` + strings.Repeat("a", 1<<20) + `"}`))
	zw.Close()
	if bomb.Len() > 4096 {
		t.Fatalf("bomb is %d bytes compressed; the test wants it under the limit", bomb.Len())
	}
	h.ok(201, "POST", "/v1/apps", small.Bytes(), "Content-Encoding", "gzip")
	h.fails(413, "payload_too_large", "POST", "/v1/apps", bomb.Bytes(), "Content-Encoding", "gzip")
	h.fails(400, "unsupported_content_encoding", "POST", "/v1/apps", `{"name":"x"}`, "Content-Encoding", "br")
}

// A client that drips its request is cut off after the read timeout.
func TestSlowClientCutOff(t *testing.T) {
	h := newHarness(t, func(d *api.Deps) { d.Config.ReadTimeout = time.Second })
	c := rawConn(t, h, "POST /v1/apps HTTP/1.1\r\n", nil)
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if _, err := c.Write([]byte("X-Drip: 1\r\n")); err != nil {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatal("a dripping client kept its connection for 15s")
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1024)); err != nil && !isTimeout(err) {
			break // closed by the server
		}
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("cut off after %s, before the read timeout", d)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// One client may hold only so many connections; the next is answered 429
// in the contract's shape, and a freed slot can be used again.
func TestConnectionCapPerClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	capped := api.GuardListener(ln, 3)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go func() { _ = srv.Serve(capped) }()
	t.Cleanup(func() { srv.Close() })
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for capped.Active() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections accepted", capped.Active())
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, _ := readAnswer(t, c)
	if r.status != 429 {
		t.Fatalf("4th connection: status %d", r.status)
	}
	checkError(t, r, "too_many_connections")

	held[0].Close()
	for capped.Active() > 2 {
		if time.Now().After(deadline) {
			t.Fatal("closed connection not released")
		}
		time.Sleep(5 * time.Millisecond)
	}
	res, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after a slot freed: %v %v", res, err)
	}
	res.Body.Close()
}

// A connection that sends nothing within the read timeout is closed
// without an answer. An answer there (it was 400 "Request Timeout") could
// be taken for its own by a request a client sent on that connection from
// its pool just then: a refusal of what Herald never read.
func TestIdleNewConnectionClosedWithoutAnswer(t *testing.T) {
	h := newHarness(t, func(d *api.Deps) { d.Config.ReadTimeout = time.Second })
	for name, head := range map[string]string{"nothing": "", "part of a head": "POST /v1/apps HTTP/1.1\r\nHost: herald\r\n"} {
		c := rawConn(t, h, head, nil)
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("%s sent: %v, want the connection closed within the read timeout", name, err)
		}
		if len(got) > 0 {
			t.Fatalf("%s sent: the server answered %q, want the connection closed without an answer", name, got)
		}
	}
}

// TestMalformedHeadAnswerQuotesNothing: fasthttp's errors for a head it
// cannot parse quote the head, so a 400 that passed the error's text on
// sent the client's token back in its body (and to anything between the
// client and Herald that logs answers).
func TestMalformedHeadAnswerQuotesNothing(t *testing.T) {
	h := newHarness(t)
	const secret = "s3cr3t-token-value"
	for name, head := range map[string]string{
		"no method":          " /v1/apps HTTP/1.1\r\nAuthorization: Bearer " + secret + "\r\n\r\n",
		"bad content length": "POST /v1/apps HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer " + secret + "\r\nContent-Length: x" + secret + "\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := readAnswer(t, rawConn(t, h, head, nil))
			if r.status != 400 {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			checkError(t, r, "bad_request")
			if bytes.Contains(r.body, []byte(secret)) || bytes.Contains(r.body, []byte("Authorization")) {
				t.Errorf("the answer quotes the request's head: %s", r.body)
			}
		})
	}
}
