package schemas

import (
	"encoding/json"
	"testing"
)

func TestStatesSpelling(t *testing.T) {
	// The contract's values, exactly (API.md: Event status, Delivery status).
	want := `["pending","delivered","failed","cancelled"]` +
		`["pending","delivering","succeeded","failed","cancelled"]`
	a, _ := json.Marshal(EventStatuses())
	b, _ := json.Marshal(DeliveryStatuses())
	if got := string(a) + string(b); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestOutcomeEnds(t *testing.T) {
	for _, o := range Outcomes() {
		st, final := o.Ends()
		if final != st.Final() || (final && OutcomeOfFinal(st) != o) {
			t.Errorf("outcome %q ends %q (%v)", o, st, final)
		}
	}
	for _, st := range DeliveryStatuses() {
		if o := OutcomeOfFinal(st); (o != OutcomeNone) != st.Final() {
			t.Errorf("OutcomeOfFinal(%q) = %q", st, o)
		}
	}
}

func TestStatesScan(t *testing.T) {
	var d DeliveryStatus
	if err := d.Scan([]byte("delivering")); err != nil || d != DeliveryDelivering {
		t.Fatalf("scan bytes: %q %v", d, err)
	}
	var e EventStatus
	for _, src := range []any{"succeeded", []byte("Pending"), nil, int64(1)} {
		if err := e.Scan(src); err == nil {
			t.Errorf("event status scanned %v", src)
		}
	}
	var o Outcome
	if err := o.Scan(""); err != nil || o != OutcomeNone {
		t.Fatalf("scan an attempt without outcome: %q %v", o, err)
	}
	if _, err := DeliveryStatus("delivered").Value(); err == nil {
		t.Fatal("wrote an event status as a delivery status")
	}
}
