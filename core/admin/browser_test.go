package admin

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"resind/core"
	"resind/internal/chromiumtest"
)

// within runs the steps with a deadline, so a page that never shows what is
// awaited fails the test instead of hanging it.
func within(ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// value runs one action that returns a value, with a deadline.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOperatorLogsInSeesDownBackendAndLiveUpdates(t *testing.T) {
	first := sampleStatus()
	first.Warnings = append(first.Warnings, `resin.xml:13: <img src=x id=injected>: shown as text`)
	src := newFakeSource(first)
	h, err := New(src, Options{Users: adminUsers()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // 127.0.0.1, a free port
	t.Cleanup(srv.Close)
	ctx := chromiumtest.Start(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// Not logged in: the page sends the browser to the login form.
	if err := within(ctx, 20*time.Second,
		chromedp.Navigate(srv.URL+Prefix+"/"),
		chromedp.WaitVisible(css("#user")),
	); err != nil {
		t.Fatalf("login form: %v", err)
	}
	if loc := value(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, Prefix+"/login") {
		t.Fatalf("landed on %s, want the login form", loc)
	}

	// A wrong password shows the form again with a message.
	if err := within(ctx, 20*time.Second,
		chromedp.SendKeys(css("#user"), "admin"),
		chromedp.SendKeys(css("#password"), "guess"),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css(".alert")),
	); err != nil {
		t.Fatalf("wrong password: %v", err)
	}
	if msg := value(t, ctx, chromedp.Text(css(".alert"))); !strings.Contains(msg, "Wrong user name or password") {
		t.Fatalf("after a wrong password the page says %q", msg)
	}

	// The right one opens the summary, which fills itself from the API.
	const appB = `tr[data-server="app-b"] td.state`
	if err := within(ctx, 20*time.Second,
		chromedp.SendKeys(css("#password"), "s3cret"),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css(appB)),
		chromedp.WaitVisible(css("#reload-error")),
	); err != nil {
		t.Fatalf("summary after login: %v", err)
	}
	if s := value(t, ctx, chromedp.Text(css("#server-id"))); s != "web-a" {
		t.Errorf("server shown as %q, want web-a", s)
	}
	if e := value(t, ctx, chromedp.Text(css("#reload-error-text"))); !strings.Contains(e, `resin.xml:42: <server id="app-a">: port "68o0" is not a number`) {
		t.Errorf("refused reload shown as %q, want its file:line error", e)
	}
	if s := value(t, ctx, chromedp.Text(css(appB))); s != "down" {
		t.Errorf("app-b state shown as %q, want the word down", s)
	}
	bg := "getComputedStyle(document.querySelector('" + appB + "')).backgroundColor"
	if c := value(t, ctx, chromedp.Evaluate[string](bg)); !isRed(c) {
		t.Errorf("app-b's down state has background %s, want red", c)
	}
	if row := value(t, ctx, chromedp.Text(css(`tr[data-server="app-b"]`))); !strings.Contains(row, "127.0.0.1:6802") {
		t.Errorf("app-b row %q lacks its address", row)
	}

	// Text from the configuration is shown as text, never as markup.
	if w := value(t, ctx, chromedp.Text(css("#warnings"))); !strings.Contains(w, "<img src=x id=injected>") {
		t.Errorf("warnings shown as %q, want the element name as text", w)
	}
	if n := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#injected').length`)); n != 0 {
		t.Errorf("a warning's text became %d element(s)", n)
	}

	// Mark this document: if the page navigated (reloaded) the mark is gone.
	value(t, ctx, chromedp.Evaluate[bool](`window.stillTheSamePage = true`))

	// app-b comes back and the edit is fixed; the page shows it on its own.
	st := sampleStatus()
	st.Backends[1].State = "up"
	st.LastReload = core.ReloadStatus{Time: time.Now(), OK: true}
	src.set(st)

	if err := within(ctx, 15*time.Second,
		chromedp.WaitVisible(css(`tr[data-server="app-b"] td.state-up`)),
		chromedp.WaitNotVisible(css("#reload-error")),
	); err != nil {
		t.Fatalf("page did not refresh to show app-b up: %v", err)
	}
	if !value(t, ctx, chromedp.Evaluate[bool](`window.stillTheSamePage === true`)) {
		t.Error("the page was reloaded; it should update in place")
	}
	if c := value(t, ctx, chromedp.Evaluate[string](bg)); isRed(c) {
		t.Errorf("app-b up is still red (%s)", c)
	}
}

// isRed reports whether a computed CSS colour "rgb(r, g, b)" is mostly red.
func isRed(c string) bool {
	var r, g, b int
	if _, err := fmt.Sscanf(c, "rgb(%d, %d, %d)", &r, &g, &b); err != nil {
		return false
	}
	return r > 150 && g < 100 && b < 100
}
