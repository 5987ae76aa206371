package api

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/schemas"
)

// goneEvery is how often long request work looks whether its client left.
const goneEvery = 20 * time.Millisecond

// workContext is the context for request work that may take long (payload
// validation): it ends when the server starts shutting down (its Listener
// closes) or when the client closes its connection, which fasthttp does
// not report, so both are watched here. (fasthttp's own request context
// cannot be a parent: it is reused by the next request and its Done races
// with Shutdown.)
func (s *server) workContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	conn := c.Context().Conn()
	var shutdown <-chan struct{}
	if gc, ok := conn.(*guardedConn); ok {
		shutdown = gc.l.closed
	}
	go func() {
		t := time.NewTicker(goneEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-shutdown:
				cancel()
				return
			case <-t.C:
				if clientGone(conn) {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}

// workFunc makes the context that bounds request work that may take long
// (workContext). It is called only when such work runs: most requests
// have none (an event type without a schema), and watching every request
// for its whole life, the Temporal start included, cost 2% of the
// process's CPU under load.
type workFunc func() (context.Context, context.CancelFunc)

// workFor is the workFunc of a request.
func (s *server) workFor(c *fiber.Ctx) workFunc {
	return func() (context.Context, context.CancelFunc) { return s.workContext(c) }
}

// workStopped is the answer when request work was stopped by its context:
// the client is gone (nobody reads it) or the server is shutting down.
func workStopped(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &schemas.Error{Kind: schemas.KindUnavailable, Code: "request_cancelled",
			Message: "the request was stopped: the client left or the server is shutting down", Err: err}
	}
	return err
}

// clientGone reports whether the peer closed or reset the connection. It
// peeks (MSG_PEEK) without waiting, so any bytes of a next request stay.
func clientGone(conn net.Conn) bool {
	for {
		u, ok := conn.(interface{ Unwrap() net.Conn })
		if !ok {
			break
		}
		conn = u.Unwrap()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	_ = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = n == 0 && err == nil || err != nil && err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR
		return true
	})
	return gone
}
