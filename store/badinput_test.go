package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// Values a database cannot hold or compare are the request's fault (400
// invalid_input), never a 500, and times beyond what either database
// stores are clamped, on both databases: the net under the API's checks.
func testBadInput(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "a")
	for _, id := range []string{"a\x00b", "\xff\xfe"} {
		_, err := s.GetApp(ctx, id)
		if k := schemas.KindOf(err); k != schemas.KindNotFound && k != schemas.KindBadRequest {
			t.Errorf("GetApp(%q): %v (kind %s)", id, err, k)
		}
	}
	err := s.CreateApp(ctx, schemas.App{ID: "n", Name: "x\x00y", CreatedAt: t0})
	if k := schemas.KindOf(err); err != nil && k != schemas.KindBadRequest {
		t.Errorf("NUL in a name: %v (kind %s)", err, k)
	}
	year0 := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	year10k := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []store.EventFilter{{Since: &year0}, {Until: &year10k}, {Since: &year0, Until: &year10k}} {
		if _, _, err := s.ListEvents(ctx, "a", f, store.Page{}); err != nil {
			t.Errorf("ListEvents(%v, %v): %v", f.Since, f.Until, err)
		}
	}
	if _, err := s.RecoverFailed(ctx, "a", "nope", year0, year10k, t0); err != nil && schemas.KindOf(err) == schemas.KindInternal {
		t.Errorf("RecoverFailed over all time: %v", err)
	}
}
