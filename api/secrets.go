package api

import (
	"net/textproto"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/signing"
	"github.com/herald-hq/herald/store"
)

func (s *server) secretRoutes(r fiber.Router) {
	r.Get("/apps/:app/endpoints/:ep/secret", s.getSecret)
	r.Post("/apps/:app/endpoints/:ep/secret/rotate", s.rotateSecret)
	r.Post("/apps/:app/endpoints/:ep/recover", s.recoverEndpoint)
}

type keyBody struct {
	Key string `json:"key"`
}

// getSecret answers the endpoint's whsec_ key, or for an ed25519 endpoint
// the whpk_ public key of its signing key.
func (s *server) getSecret(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	sec, err := s.Store.GetEndpointSecrets(c.UserContext(), e.AppID, e.ID)
	if err != nil {
		return err
	}
	key := sec.Key
	if e.SignatureType == schemas.SignatureEd25519 {
		if key, err = signing.PublicKey(sec.Key); err != nil {
			return errorf(err, "public key of endpoint %s", e.ID)
		}
	}
	return c.JSON(keyBody{Key: key})
}

func (s *server) rotateSecret(c *fiber.Ctx) error {
	var req struct {
		Key *string `json:"key"`
	}
	if err := s.decode(c, &req, true); err != nil {
		return err
	}
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	key, shown, err := newKeys(e.SignatureType, req.Key)
	if err != nil {
		return err
	}
	if err := s.Store.RotateEndpointSecret(c.UserContext(), e.AppID, e.ID, key, s.now().Add(s.Config.SecretOverlap)); err != nil {
		return err
	}
	return c.JSON(keyBody{Key: shown})
}

// recoverEndpoint re-delivers every delivery to the endpoint that ended
// failed in [since, until), in their original order.
func (s *server) recoverEndpoint(c *fiber.Ctx) error {
	var req struct {
		Since *time.Time `json:"since"`
		Until *time.Time `json:"until"`
	}
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	if req.Since == nil {
		return schemas.E(schemas.KindInvalid, "invalid_time_range", "since is required")
	}
	now := s.now()
	until := now
	if req.Until != nil {
		until = req.Until.UTC()
	}
	if !until.After(*req.Since) {
		return schemas.E(schemas.KindInvalid, "invalid_time_range", "until must be after since")
	}
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	replayed, err := s.Store.RecoverFailed(ctx, e.AppID, e.ID, req.Since.UTC(), until, now)
	if err != nil {
		return err
	}
	for _, r := range replayed {
		// The re-queue is durable and noted in the outbox: a signal that
		// fails is sent by the workers' sweep, and the others still go now.
		sig := schemas.ReplaySignal{EndpointID: e.ID, Targets: []schemas.Target{r.Target}}
		if err := s.Dispatcher.Replay(ctx, e.AppID, r.EventID, sig); err != nil {
			s.Logger.Warn("recover: signal a re-queued event (the sweep repeats it)", "event", r.EventID, "err", err)
			continue
		}
		s.dispatched(ctx, e.AppID, r.EventID, store.DispatchReplay)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"replayed": len(replayed)})
}

// Headers Herald sets itself, or that HTTP reserves; custom headers may not set them.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "User-Agent": true, "Host": true, "Content-Length": true,
	"Transfer-Encoding": true, "Connection": true, "Content-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Keep-Alive": true, "Proxy-Connection": true,
}

// checkHeaders validates an endpoint's custom headers.
func checkHeaders(h map[string]string) error {
	if len(h) > 64 {
		return schemas.E(schemas.KindInvalid, "invalid_header", "at most 64 custom headers")
	}
	for name, value := range h {
		if !isToken(name) {
			return schemas.Errorf(schemas.KindInvalid, "invalid_header", "%q is not a valid header name", name)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if reservedHeaders[canon] || strings.HasPrefix(strings.ToLower(name), "webhook-") {
			return schemas.Errorf(schemas.KindInvalid, "invalid_header",
				"header %q is set by Herald and cannot be overridden", name)
		}
		for _, r := range value {
			if r == '\r' || r == '\n' || r == 0 || (r < ' ' && r != '\t') || r == 0x7f {
				return schemas.Errorf(schemas.KindInvalid, "invalid_header", "the value of header %q has a control character", name)
			}
		}
		if len(value) > 4096 {
			return schemas.Errorf(schemas.KindInvalid, "invalid_header", "the value of header %q is longer than 4096 bytes", name)
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
