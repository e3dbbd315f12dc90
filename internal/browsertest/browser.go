// Package browsertest drives hashgate's console in a real headless Chromium (Debian's
// chromium package) for end-to-end tests: it finds the browser, starts it with the flags a
// closed, sandboxed machine needs, and offers the few steps the tests use. Every wait is for a
// condition in the page; the timeouts only guard against a hang.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium returns the browser's path; without one the test is skipped, or fails when
// HASHGATE_REQUIRE_PEERS=1 (CI installs it).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HASHGATE_REQUIRE_PEERS") == "1" {
		t.Fatal("chromium is required (HASHGATE_REQUIRE_PEERS=1) but not installed: apt-get install chromium")
	}
	t.Skip("chromium not installed")
	return ""
}

// Browser is one headless Chromium page.
type Browser struct {
	t         testing.TB
	ctx       context.Context
	Base      string // the console's URL
	Artifacts string // where Shot writes PNGs
}

// New starts Chromium for base; it is stopped when the test ends.
func New(t testing.TB, base, artifacts string) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Browser{t: t, ctx: ctx, Base: base, Artifacts: artifacts}
}

// Do runs steps or fails the test.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// WaitFor polls a JavaScript expression until it is true.
func (b *Browser) WaitFor(what, expr string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(200*time.Millisecond),
		chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		b.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Text returns an element's text.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// Status fetches path from the page (with its cookies) and returns the HTTP status.
func (b *Browser) Status(path string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`fetch(`+strconv.Quote(path)+`).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// Shot saves a screenshot as <Artifacts>/<name>.png.
func (b *Browser) Shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Artifacts, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// Click clicks inside the page in one step: tables re-render with every update, so a node
// looked up first may be gone by the time a separate click arrives.
func (b *Browser) Click(what, sel string) {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+strconv.Quote(sel)+`); if (!e) return false; e.click(); return true })()`))
	if err != nil || !ok {
		b.t.Fatalf("%s: no %s (%v)", what, sel, err)
	}
}

// Page opens a console page (#name) and waits until ready is true.
func (b *Browser) Page(name, ready string) {
	b.t.Helper()
	b.Do("open "+name, chromedp.Navigate(b.Base+"/#"+name))
	b.WaitFor(name+" page", ready)
}

// SignIn loads the console, checks the API refuses while signed out, and signs in.
func (b *Browser) SignIn(user, password string) {
	b.t.Helper()
	b.Do("load", chromedp.EmulateViewport(1440, 900), chromedp.Navigate(b.Base+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if code := b.Status("/api/v1/overview"); code != 401 {
		b.t.Fatalf("signed-out API request: %d, want 401", code)
	}
	b.Shot("login")
	b.Do("sign in", chromedp.SendKeys(chromedp.CSS("#login-name"), user),
		chromedp.SendKeys(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#app")))
	b.WaitFor("live stream", `document.getElementById('live-text').textContent === 'live'`)
}

// SignOut signs out and checks the API refuses again.
func (b *Browser) SignOut() {
	b.t.Helper()
	b.Do("sign out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if code := b.Status("/api/v1/workers"); code != 401 {
		b.t.Fatalf("API after sign-out: %d, want 401", code)
	}
}
