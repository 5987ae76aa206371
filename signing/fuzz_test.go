package signing

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// FuzzVerify: any headers and body: Verify never panics, and it accepts
// only what the key signed (a forged signature header is refused).
func FuzzVerify(f *testing.F) {
	key := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Unix(1_700_000_000, 0)
	good, err := Sign(key, "msg_1", now, []byte(`{"a":1}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("msg_1", "1700000000", good, []byte(`{"a":1}`))
	f.Add("msg_1", "1700000000", "v1,AAAA v1a,#### v2,x", []byte(`{}`))
	f.Add("", "-1", "v1,", []byte(nil))
	f.Add("m", "99999999999999999999", "v1,"+good[3:]+" "+good, []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := verifyAt(key, h, body, 5*time.Minute, now)
		if err != nil {
			return
		}
		secs, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil {
			t.Fatalf("accepted timestamp %q", ts)
		}
		want, _ := Sign(key, id, time.Unix(secs, 0), body)
		if !containsField(sig, want) {
			t.Fatalf("accepted %q for id %q ts %q body %q; the signature is %q", sig, id, ts, body, want)
		}
	})
}

func containsField(s, want string) bool {
	for start := 0; start <= len(s); {
		end := start
		for end < len(s) && s[end] != ' ' {
			end++
		}
		if s[start:end] == want {
			return true
		}
		start = end + 1
	}
	return false
}
