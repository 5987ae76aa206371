package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/herald-hq/herald/schemas"
)

// Request bodies are streamed (fiber.Config.StreamRequestBody): before the
// handlers run, fasthttp reads min(Content-Length, 8 KiB) of a body of
// acceptable length, none of a chunked one, and, through headerReceived,
// none of one declared longer than MaxPayloadBytes. readBody, which runs
// after auth, reads the rest, bounded by MaxPayloadBytes, into a buffer that
// grows with what arrives; finishBody, which runs for every request,
// discards what nobody read so the answer reaches the client.

// declaredHeader marks a request whose declared body is too long: its
// Content-Length is set to 0 so that fasthttp reads none of it, and this
// header keeps what was declared. The connection is closed after the answer.
const declaredHeader = "X-Herald-Declared-Length"

// headErrors is the server's error handler for what goes wrong before a
// request's head is read.
//
// A connection that sent no whole head within the read timeout is closed
// without an answer, as an idle keep-alive one is (and as Go's and nginx's
// servers do). The answer Fiber wrote there, 400 "Request Timeout", went to
// a connection a client may hold idle in its pool (Go's transport dials one
// that a request then does not use): one sent on it just then took the 400
// for its own answer, a definite refusal of a request Herald never read.
// Closed, the client sees the connection end, which it may retry. Bodies
// are read by the handlers (StreamRequestBody), so their timeouts do not
// come here.
//
// A head that cannot be parsed gets its 400 without the parser's text,
// which quotes the head it read, the client's token included.
func headErrors(next func(*fasthttp.RequestCtx, error)) func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		var (
			ne    net.Error
			small *fasthttp.ErrSmallBuffer
		)
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			_ = ctx.Conn().Close() // the answer fasthttp then writes goes nowhere
		case errors.As(err, &ne), errors.As(err, &small),
			errors.Is(err, fasthttp.ErrBodyTooLarge), errors.Is(err, fasthttp.ErrGetOnly):
			next(ctx, err) // Fiber answers these by their kind, not their text
		default:
			next(ctx, errMalformedHead)
		}
	}
}

var errMalformedHead = errors.New("the request's head is not valid HTTP/1.1")

// headerReceived is fasthttp's hook between a request's headers and its body.
func (s *server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(declaredHeader) // only this hook sets it
	if cl := h.ContentLength(); cl > s.Config.MaxPayloadBytes {
		h.Set(declaredHeader, strconv.Itoa(cl))
		h.SetContentLength(0)
	}
	return fasthttp.RequestConfig{}
}

func declaredTooLong(c *fiber.Ctx) bool {
	return len(c.Request().Header.Peek(declaredHeader)) > 0
}

// readBody buffers the request body of an authenticated request: at most
// MaxPayloadBytes after decompression, else 413. Handlers then read it with
// c.Body() as usual.
func (s *server) readBody(c *fiber.Ctx) error {
	req := c.Request()
	if declaredTooLong(c) {
		return errTooLarge
	}
	if !req.IsBodyStream() {
		return c.Next()
	}
	limit := s.Config.MaxPayloadBytes
	var r io.Reader = req.BodyStream()
	switch enc := strings.ToLower(strings.TrimSpace(c.Get(fiber.HeaderContentEncoding))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		// The compressed size is bounded like a plain body; the
		// decompressed size by the same limit, so a small bomb is a 413.
		zr, err := gzip.NewReader(io.LimitReader(r, int64(limit)+1))
		if err != nil {
			return schemas.E(schemas.KindBadRequest, "invalid_body", "the gzip request body is not valid gzip")
		}
		defer zr.Close()
		r = zr
	default:
		return schemas.Errorf(schemas.KindBadRequest, "unsupported_content_encoding",
			"Content-Encoding %q is not supported; send the body as is or gzip it", enc)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	switch {
	case n > int64(limit):
		return errTooLarge
	case err != nil && !errors.Is(err, io.EOF):
		return schemas.Errorf(schemas.KindBadRequest, "invalid_body", "the request body could not be read: %v", err)
	}
	req.Header.Del(fiber.HeaderContentEncoding) // decoded: c.Body() must not decode it again
	req.SetBodyRaw(buf.Bytes())
	return c.Next()
}

// finishBody runs the rest of the chain, then reads and discards what is
// left of the request body, up to drainLimit, so that the connection can
// serve its next request and the client, still writing, receives the
// answer instead of a reset. A longer rest, or a body declared too long,
// closes the connection, after a lingering close (see guardedConn) for the
// same reason.
func (s *server) finishBody(c *fiber.Ctx) error {
	err := c.Next()
	req := c.Request()
	if !declaredTooLong(c) {
		if !req.IsBodyStream() {
			return err
		}
		n, derr := io.CopyN(io.Discard, req.BodyStream(), s.drainLimit()+1)
		if errors.Is(derr, io.EOF) && n <= s.drainLimit() {
			return err
		}
	}
	c.Response().Header.SetConnectionClose()
	if l, ok := c.Context().Conn().(interface{ lingerOnClose() }); ok {
		l.lingerOnClose()
	}
	return err
}

// drainLimit is how much of an unread body is discarded to keep the
// connection: four times the largest body accepted.
func (s *server) drainLimit() int64 { return 4 * int64(s.Config.MaxPayloadBytes) }
