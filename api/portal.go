package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// PortalStore is the part of the store portal links need.
type PortalStore interface {
	CreatePortalToken(ctx context.Context, token string, t store.PortalToken, now time.Time) error
	GetPortalToken(ctx context.Context, token string) (store.PortalToken, error)
}

// kindForbidden is a portal token used outside what it grants.
const kindForbidden schemas.Kind = "forbidden" // 403

const (
	// portalTokenPrefix marks portal tokens, so auth knows which check applies.
	portalTokenPrefix   = "hpt_"
	defaultLinkLifetime = time.Hour
	maxLinkLifetime     = 7 * 24 * time.Hour
	// localsPortal is where auth leaves the portal token a request came with.
	localsPortal = "herald.portal"
)

func (s *server) portalRoutes(r fiber.Router) {
	r.Post("/apps/:app/portal-links", s.createPortalLink)
	r.Get("/apps/:app/portal-links/self", s.portalSelf)
}

type portalLink struct {
	URL       string    `json:"url"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	AppID     string    `json:"app_id"`
	ReadOnly  bool      `json:"read_only"`
}

func (s *server) createPortalLink(c *fiber.Ctx) error {
	var req struct {
		ExpiresIn *int64 `json:"expires_in"`
		ReadOnly  bool   `json:"read_only"`
	}
	if err := s.decode(c, &req, true); err != nil {
		return err
	}
	life := defaultLinkLifetime
	if req.ExpiresIn != nil {
		if *req.ExpiresIn < 1 || *req.ExpiresIn > int64(maxLinkLifetime/time.Second) {
			return schemas.Errorf(schemas.KindInvalid, "invalid_expires_in",
				"expires_in must be from 1 to %d seconds, not %d", int64(maxLinkLifetime/time.Second), *req.ExpiresIn)
		}
		life = time.Duration(*req.ExpiresIn) * time.Second
	}
	appID := c.Params("app")
	now := s.now()
	token, err := newPortalToken()
	if err != nil {
		return err
	}
	// The whole lifetime asked for, to the store's microsecond: cut to the
	// second, a link of "expires_in": 1 could be expired when answered.
	pt := store.PortalToken{AppID: appID, ReadOnly: req.ReadOnly, ExpiresAt: now.Add(life).Truncate(time.Microsecond)}
	if err := s.Store.CreatePortalToken(c.UserContext(), token, pt, now); err != nil {
		return err
	}
	base := strings.TrimRight(s.Config.PublicURL, "/")
	if base == "" {
		base = c.BaseURL()
	}
	// The token travels in the fragment: browsers never send it to a server,
	// so it stays out of access logs, proxies and Referer headers.
	link := base + "/portal/apps/" + url.PathEscape(appID) + "#token=" + token
	return c.Status(fiber.StatusCreated).JSON(portalLink{URL: link, Token: token,
		ExpiresAt: pt.ExpiresAt.UTC(), AppID: appID, ReadOnly: pt.ReadOnly})
}

// portalSelf tells a portal what its own token grants.
func (s *server) portalSelf(c *fiber.Ctx) error {
	pt, ok := c.Locals(localsPortal).(store.PortalToken)
	if !ok {
		return schemas.E(schemas.KindBadRequest, "not_a_portal_token", "this route answers for portal tokens only")
	}
	return c.JSON(fiber.Map{"app_id": pt.AppID, "read_only": pt.ReadOnly, "expires_at": pt.ExpiresAt.UTC()})
}

func newPortalToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", errorf(err, "make portal token")
	}
	return portalTokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// portalAuth admits a portal token to what it grants: its own app's
// /v1/apps/{app}/... routes, and reading the event-type catalog. It cannot
// delete the app, touch another app or the catalog, or make further links
// (which would outlive its own expiry); a read-only one may only read.
func (s *server) portalAuth(c *fiber.Ctx, token string) error {
	pt, err := s.Store.GetPortalToken(c.UserContext(), token)
	if schemas.IsNotFound(err) {
		return schemas.E(kindUnauthorized, "unauthorized", "invalid API token")
	}
	if err != nil {
		return err
	}
	if !s.now().Before(pt.ExpiresAt) {
		return schemas.E(kindUnauthorized, "token_expired", "this portal link has expired; ask for a new one")
	}
	if why := portalForbids(c.Method(), c.Path(), pt); why != "" {
		return schemas.E(kindForbidden, "forbidden", why)
	}
	c.Locals(localsPortal, pt)
	return c.Next()
}

// portalForbids says why a portal token may not make this request, or "".
func portalForbids(method, path string, pt store.PortalToken) string {
	read := method == fiber.MethodGet || method == fiber.MethodHead
	if pt.ReadOnly && !read {
		return "this portal link is read-only"
	}
	seg := strings.Split(strings.Trim(strings.TrimPrefix(path, "/v1"), "/"), "/")
	for _, p := range seg {
		if p == "" {
			return "a portal link cannot use this route"
		}
	}
	switch {
	case seg[0] == "event-types":
		if !read {
			return "a portal link cannot change event types"
		}
		return ""
	case seg[0] != "apps" || len(seg) < 2:
		return "a portal link works only for its own app's routes"
	case seg[1] != pt.AppID:
		return "a portal link works only for its own app"
	case len(seg) == 2 && method == fiber.MethodDelete:
		return "a portal link cannot delete its app"
	case len(seg) >= 3 && seg[2] == "portal-links" && !read:
		return "a portal link cannot make portal links"
	case len(seg) >= 3 && seg[2] == "sources": // they name the operator's internal brokers
		return "a portal link cannot see or manage sources"
	}
	return ""
}
