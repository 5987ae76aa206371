package api

import (
	"context"
	"encoding/json"
	"math"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/lanewake"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/signing"
)

func (s *server) endpointRoutes(r fiber.Router) {
	r.Post("/apps/:app/endpoints", s.createEndpoint)
	r.Get("/apps/:app/endpoints", s.listEndpoints)
	r.Get("/apps/:app/endpoints/:ep", s.getEndpoint)
	r.Patch("/apps/:app/endpoints/:ep", s.updateEndpoint)
	r.Delete("/apps/:app/endpoints/:ep", s.deleteEndpoint)
}

// endpointRequest is the body of create and PATCH; nil means not sent.
type endpointRequest struct {
	URL                *string            `json:"url"`
	Description        *string            `json:"description"`
	EventTypes         *[]string          `json:"event_types"`
	Secret             *string            `json:"secret"`
	Ordered            *bool              `json:"ordered"`
	RateLimitPerSecond *int               `json:"rate_limit_per_second"`
	Headers            *map[string]string `json:"headers"`
	Disabled           *bool              `json:"disabled"`
	SignatureType      *string            `json:"signature_type"`
	Filter             json.RawMessage    `json:"filter"`    // string; null removes it
	Transform          json.RawMessage    `json:"transform"` // string; null removes it
	Auth               authField          `json:"auth"`
	CAPEM              *string            `json:"ca_pem"`
}

// endpointCreated is the create answer: the endpoint and its secret (the
// whpk_ public key for ed25519 endpoints).
type endpointCreated struct {
	schemas.Endpoint
	Secret string `json:"secret"`
}

func endpointOut(e schemas.Endpoint) schemas.Endpoint {
	if e.EventTypes == nil {
		e.EventTypes = []string{}
	}
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	e.CreatedAt = e.CreatedAt.UTC()
	e.UpdatedAt = e.UpdatedAt.UTC()
	if e.DisabledAt != nil {
		t := e.DisabledAt.UTC()
		e.DisabledAt = &t
	}
	return e
}

// apply validates the fields the request sets and writes them into e.
func (s *server) apply(ctx context.Context, req endpointRequest, e *schemas.Endpoint) error {
	if req.URL != nil {
		if err := checkEndpointURL(*req.URL, s.Config.AllowPrivateNetworks); err != nil {
			return schemas.E(schemas.KindInvalid, "invalid_url", err.Error())
		}
		e.URL = *req.URL
	}
	if req.Description != nil {
		e.Description = *req.Description
	}
	if req.EventTypes != nil {
		types := []string{}
		for _, name := range *req.EventTypes {
			if slices.Contains(types, name) {
				continue
			}
			if _, err := s.Store.GetEventType(ctx, name); err != nil {
				if schemas.IsNotFound(err) {
					return schemas.Errorf(schemas.KindInvalid, "unknown_event_type", "event type %q does not exist", name)
				}
				return err
			}
			types = append(types, name)
		}
		e.EventTypes = types
	}
	if req.Ordered != nil {
		e.Ordered = *req.Ordered
	}
	if req.RateLimitPerSecond != nil {
		if *req.RateLimitPerSecond < 0 || *req.RateLimitPerSecond > math.MaxInt32 {
			return schemas.E(schemas.KindInvalid, "invalid_rate_limit", "rate_limit_per_second must be from 0 (no limit) to 2147483647")
		}
		e.RateLimitPerSecond = *req.RateLimitPerSecond
	}
	if req.Headers != nil {
		if err := checkHeaders(*req.Headers); err != nil {
			return err
		}
		e.Headers = *req.Headers
	}
	if req.Disabled != nil && *req.Disabled != e.Disabled {
		e.Disabled = *req.Disabled
		if e.Disabled {
			now := s.now()
			e.DisabledAt, e.DisabledReason = &now, "manual"
		}
	}
	if req.Disabled != nil && !*req.Disabled {
		e.DisabledAt, e.DisabledReason = nil, ""
	}
	if err := s.applyAuth(req.Auth, req.CAPEM, e); err != nil {
		return err
	}
	return s.applyRouting(ctx, req, e)
}

func checkSignatureType(t *string) (string, error) {
	if t == nil {
		return schemas.SignatureHMAC, nil
	}
	switch *t {
	case schemas.SignatureHMAC, schemas.SignatureEd25519:
		return *t, nil
	}
	return "", schemas.Errorf(schemas.KindInvalid, "invalid_signature_type",
		"signature_type must be %q or %q, not %q", schemas.SignatureHMAC, schemas.SignatureEd25519, *t)
}

// newKeys makes an endpoint's signing key (or takes the client's) and
// returns it with the key the client sees: the secret itself for HMAC, the
// whpk_ public key for ed25519.
func newKeys(sigType string, given *string) (key, shown string, err error) {
	if sigType == schemas.SignatureEd25519 {
		if given != nil {
			return "", "", schemas.E(schemas.KindInvalid, "invalid_secret",
				"an ed25519 endpoint's key pair is made by Herald: do not send a secret")
		}
		return signing.NewEd25519Key()
	}
	if given != nil {
		if err := signing.ValidateSecret(*given); err != nil {
			return "", "", schemas.E(schemas.KindInvalid, "invalid_secret", err.Error())
		}
		return *given, *given, nil
	}
	key, err = signing.NewSecret()
	return key, key, err
}

func (s *server) createEndpoint(c *fiber.Ctx) error {
	var req endpointRequest
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	appID, ctx := c.Params("app"), c.UserContext()
	if err := s.requireApp(c, appID); err != nil {
		return err
	}
	if req.URL == nil {
		return schemas.E(schemas.KindInvalid, "invalid_url", "url is required")
	}
	sigType, err := checkSignatureType(req.SignatureType)
	if err != nil {
		return err
	}
	now := s.now()
	e := schemas.Endpoint{ID: schemas.NewID(schemas.PrefixEndpoint, now), AppID: appID, Ordered: true,
		EventTypes: []string{}, Headers: map[string]string{}, SignatureType: sigType, CreatedAt: now, UpdatedAt: now}
	if err := s.apply(ctx, req, &e); err != nil {
		return err
	}
	key, shown, err := newKeys(sigType, req.Secret)
	if err != nil {
		return err
	}
	if err := s.Store.CreateEndpoint(ctx, e, schemas.EndpointSecrets{Key: key}); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(endpointCreated{Endpoint: endpointOut(e), Secret: shown})
}

func (s *server) listEndpoints(c *fiber.Ctx) error {
	return listInApp(s, c, s.Store.ListEndpoints, endpointOut)
}

// endpoint loads the route's endpoint, answering app_not_found first.
func (s *server) endpoint(c *fiber.Ctx) (schemas.Endpoint, error) {
	return inApp(s, c, "ep", s.Store.GetEndpoint)
}

func (s *server) getEndpoint(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	return c.JSON(endpointOut(e))
}

// updateEndpoint changes the fields the body sets. A secret is rotated in
// as POST .../secret/rotate does (the old key keeps signing for the
// overlap); the signature type cannot change.
func (s *server) updateEndpoint(c *fiber.Ctx) error {
	var req endpointRequest
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if req.SignatureType != nil && *req.SignatureType != e.SignatureType {
		if _, err := checkSignatureType(req.SignatureType); err != nil {
			return err
		}
		return schemas.E(schemas.KindInvalid, "invalid_signature_type",
			"the signature type of an endpoint cannot change; create a new endpoint")
	}
	if err := s.apply(ctx, req, &e); err != nil {
		return err
	}
	var newKey string
	if req.Secret != nil {
		if newKey, _, err = newKeys(e.SignatureType, req.Secret); err != nil {
			return err
		}
	}
	e.UpdatedAt = s.now()
	e, err = s.Store.UpdateEndpoint(ctx, e)
	if err != nil {
		return err
	}
	if newKey != "" {
		if err := s.Store.RotateEndpointSecret(ctx, e.AppID, e.ID, newKey, s.now().Add(s.Config.SecretOverlap)); err != nil {
			return err
		}
	}
	return c.JSON(endpointOut(e))
}

func (s *server) deleteEndpoint(c *fiber.Ctx) error {
	appID := c.Params("app")
	if err := s.requireApp(c, appID); err != nil {
		return err
	}
	if err := s.Store.DeleteEndpoint(c.UserContext(), appID, c.Params("ep"), s.now()); err != nil {
		return err
	}
	s.wake(lanewake.Wake{AppID: appID, EndpointID: c.Params("ep")})
	return noContent(c)
}
