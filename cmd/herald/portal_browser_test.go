package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/longtest"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium (see debianTool).
func chromium(t *testing.T) string {
	t.Helper()
	longtest.Require(t, "the portal's browser test")
	return debianTool(t, "chromium", "chromium", "the portal's browser test")
}

// debianTool finds the program bin, installing Debian's package pkg when
// the test runs as root with apt-get (as .ci/run does); the test is skipped
// only when it cannot be had.
func debianTool(t *testing.T, bin, pkg, what string) string {
	t.Helper()
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if p, lerr := exec.LookPath(bin); lerr == nil {
			return p
		}
		t.Skipf("%s is not installed and `apt-get install %s` failed (%v): %s cannot run\n%s", bin, pkg, err, what, out)
	}
	t.Skipf("%s is not installed and cannot be installed here (needs root and apt-get): %s cannot run", bin, what)
	return ""
}

// browser starts headless Chromium with a fresh profile and returns a tab
// and the CSP violations and console errors it reports.
func browser(t *testing.T) (context.Context, func() []string) {
	exe := chromium(t)
	// Not t.TempDir: Chromium's helpers may still write there as it exits.
	profile, err := os.MkdirTemp("", "herald-chromium-*")
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(profile), chromedp.WindowSize(1200, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc(); _ = os.RemoveAll(profile) })
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.LevelError && !strings.Contains(e.Entry.Text, "status of 403") {
				problems = append(problems, e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, e.ExceptionDetails.Error())
		}
	})
	if err := chromedp.Run(ctx, cdplog.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), problems...) }
}

// shot saves a screenshot to docs/portal when HERALD_PORTAL_SCREENSHOTS=1
// (the README shows them), else to the test's temporary directory.
func shot(t *testing.T, ctx context.Context, name string) chromedp.Action {
	dir := t.TempDir()
	if os.Getenv("HERALD_PORTAL_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "portal")
	}
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}

func TestPortalInBrowser(t *testing.T) {
	dev := sharedDev(t)
	ctx, problems := browser(t)
	c := dev.api.withT(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	shop, other := "shop-"+suffix, "other-"+suffix
	c.must(201, "POST", "/v1/apps", map[string]any{"id": shop, "name": "Shop"}, nil)
	c.must(201, "POST", "/v1/apps", map[string]any{"id": other, "name": "Other"}, nil)
	c.must(201, "POST", "/v1/event-types", map[string]any{"name": "order.created." + suffix,
		"description": "An order was placed.", "schema": map[string]any{"type": "object", "required": []string{"id"},
			"properties": map[string]any{
				"id":    map[string]any{"type": "string", "description": "The order's id", "examples": []string{"ord_42"}},
				"total": map[string]any{"type": "integer", "description": "In cents"}}}}, nil)
	var otherEp struct{ ID string }
	c.must(201, "POST", "/v1/apps/"+other+"/endpoints", map[string]any{"url": "https://example.com/secret-place"}, &otherEp)

	// The receiver answers with markup: the portal must show it as text.
	var got atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<script>window.pwned = 1</script><b>thanks</b>`)
	}))
	defer recv.Close()

	var link struct{ URL string }
	c.must(201, "POST", "/v1/apps/"+shop+"/portal-links", map[string]any{}, &link)

	var text string
	var n int
	var pwned bool
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nbrowser problems: %v", what, err, problems())
		}
	}
	// Open the link: the endpoints page, empty.
	run("open the link", chromedp.Navigate(link.URL), chromedp.WaitVisible(`//h1[text()="Endpoints"]`),
		chromedp.Location(&text))
	if strings.Contains(text, "token=") {
		t.Fatalf("the token stayed in the address bar: %s", text)
	}
	// Create an endpoint with the form.
	run("create an endpoint",
		chromedp.Click(`//a[text()="Add endpoint"]`), chromedp.WaitVisible(`#f-url`),
		chromedp.SendKeys(`#f-url`, recv.URL+"/hook"),
		chromedp.SendKeys(`#f-description`, "Orders to the warehouse"),
		chromedp.Click(`//input[@name="event_types"][@value="order.created.`+suffix+`"]`),
		shot(t, ctx, "endpoint-form"),
		chromedp.Click(`//button[text()="Create endpoint"]`),
		chromedp.WaitVisible(`//h2[text()="Signing secret"]`),
		chromedp.Click(`//button[text()="Reveal secret"]`), chromedp.WaitVisible(`#secret-value`),
		chromedp.Value(`#secret-value`, &text))
	if !strings.HasPrefix(text, "whsec_") {
		t.Fatalf("revealed secret %q", text)
	}
	// Its health chart draws (uPlot makes a canvas per chart).
	run("see the chart", chromedp.WaitVisible(`.chart .uplot canvas`), chromedp.Evaluate(`document.querySelectorAll('.chart .uplot').length`, &n))
	if n != 2 {
		t.Fatalf("%d charts", n)
	}

	// Send a test event: it is delivered, with its attempt shown.
	run("send a test event", chromedp.Click(`//button[text()="Send test event"]`),
		chromedp.WaitVisible(`//h2[text()="Payload"]`))
	refreshUntil := func(what, sel string, want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			run(what, chromedp.Evaluate(`document.querySelectorAll(`+"`"+sel+"`"+`).length`, &n))
			if n >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d after 60s", what, n, want)
			}
			run("refresh", chromedp.Click(`//a[text()="Refresh"]`), chromedp.Sleep(300*time.Millisecond))
		}
	}
	refreshUntil("the attempt shows", "tr.attempt", 1)
	run("read the attempt", chromedp.Text(`tr.attempt pre.body`, &text), chromedp.Evaluate(`window.pwned === 1`, &pwned))
	if !strings.Contains(text, "<script>window.pwned = 1</script>") || pwned {
		t.Fatalf("the receiver's body ran or was not shown as text: %q pwned=%v", text, pwned)
	}
	if got.Load() != 1 {
		t.Fatalf("receiver got %d requests", got.Load())
	}
	run("event screenshot", shot(t, ctx, "event"))

	// Replay it: a second attempt.
	run("replay", chromedp.Click(`//button[text()="Replay to every endpoint"]`),
		chromedp.WaitVisible(`//p[contains(., "Replay started")]`))
	refreshUntil("the replayed attempt shows", "tr.attempt", 2)
	if got.Load() != 2 {
		t.Fatalf("receiver got %d requests after the replay", got.Load())
	}

	// The endpoint's chart now counts both deliveries.
	run("endpoint with deliveries", chromedp.Click(`.delivery h3 a`), chromedp.WaitVisible(`.chart .uplot canvas`),
		chromedp.Text(`.figures`, &text), shot(t, ctx, "endpoint"))
	if !strings.Contains(text, "100%") {
		t.Fatalf("endpoint figures %q", text)
	}

	// The events list and the catalog, also on a phone's screen.
	run("events list", chromedp.Click(`//nav//a[text()="Events"]`), chromedp.WaitVisible(`table.list`), shot(t, ctx, "events"),
		chromedp.Evaluate(`document.activeElement.tagName + ":" + document.activeElement.textContent`, &text))
	if text != "H1:Events" {
		t.Fatalf("focus after navigating is on %q, not the new page's heading", text)
	}
	// The filters work from the keyboard: choose "failed" and submit with Enter.
	run("filter by keyboard", chromedp.Focus(`select[name="status"]`), chromedp.SetValue(`select[name="status"]`, "failed"),
		chromedp.Focus(`form.filters button`), chromedp.KeyEvent("\r"), chromedp.WaitVisible(`//p[text()="No events match."]`))
	example := `//section[h2[text()="order.created.` + suffix + `"]]//pre[contains(@class, "example")]`
	run("catalog", chromedp.Click(`//nav//a[text()="Event types"]`), chromedp.WaitVisible(example),
		chromedp.Text(example, &text), shot(t, ctx, "event-types"))
	if !strings.Contains(text, `"ord_42"`) {
		t.Fatalf("example payload %q", text)
	}
	run("phone", emulation.SetDeviceMetricsOverride(390, 844, 2, true),
		chromedp.Click(`//nav//a[text()="Events"]`), chromedp.WaitVisible(`table.list`), shot(t, ctx, "events-phone"),
		emulation.ClearDeviceMetricsOverride())

	// The same token on another app's pages: refused, and nothing of it shows.
	run("another app", chromedp.Navigate(strings.Replace(link.URL, "/apps/"+shop, "/apps/"+other, 1)),
		chromedp.WaitVisible(`//h1[text()="Not allowed"]`), chromedp.Text(`main`, &text), shot(t, ctx, "forbidden"))
	if strings.Contains(text, "secret-place") {
		t.Fatalf("another app's endpoint shown: %s", text)
	}
	if p := problems(); len(p) > 0 {
		t.Fatalf("the browser reported errors (CSP violations among them): %v", p)
	}
}
