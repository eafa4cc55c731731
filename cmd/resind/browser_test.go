package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"resind/internal/chromiumtest"
)

// TestOperatorWatchesARunningClusterInChromium drives Debian's chromium
// against real resind processes: log in, see every server, stop an app
// server and see it turn down, purge a cached URL. The page's screenshot is
// left in the test's temp directory.
func TestOperatorWatchesARunningClusterInChromium(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	p := cachedPorts{AppA: freePort(t), AppB: freePort(t), WebCluster: freePort(t), HTTP: freePort(t)}
	p.Users = s.passwd("ssha", "admin", "s3cret")
	s.write("resin.xml", cachedTiers, p)
	s.writeRaw("app/app/page.html", "app page")
	s.writeRaw("web/index.html", "web page")
	for _, id := range []string{"app-a", "app-b", "web-a"} {
		s.start(id)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", p.HTTP)
	get(t, base+"/app/page.html")
	if resp, _ := get(t, base+"/app/page.html"); resp.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("second GET X-Cache = %q, want HIT", resp.Header.Get("X-Cache"))
	}

	ctx := chromiumtest.Start(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		chromiumtest.Step(t, ctx, what, actions...)
	}
	text := func(sel string) string { t.Helper(); return chromiumtest.Text(t, ctx, sel) }

	step("log in and see both app servers up",
		chromedp.Navigate(base+"/resin-admin/"),
		chromedp.WaitVisible(css("#user")),
		chromedp.SendKeys(css("#user"), "admin"),
		chromedp.SendKeys(css("#password"), "s3cret"),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css(`tr[data-server="app-a"] td.state-up`)),
		chromedp.WaitVisible(css(`tr[data-server="app-b"] td.state-up`)),
	)
	if id := text("#server-id"); id != "web-a" {
		t.Errorf("the page shows server %q, want web-a", id)
	}
	// The default data plane: epoll loops, one per P but one left over.
	if dp := text("#data-plane"); !strings.HasPrefix(dp, "epoll, ") || !strings.Contains(dp, " per listener, GOMAXPROCS ") {
		t.Errorf("the page shows the data plane as %q, want epoll with its loops and GOMAXPROCS", dp)
	}

	// app-b stops; the next requests find it refusing and mark it down.
	s.stop("app-b")
	for i := 0; i < 4; i++ {
		if resp, body := get(t, fmt.Sprintf("%s/app/page.html?n=%d", base, i)); resp.StatusCode != 200 {
			t.Fatalf("GET with app-b stopped = %d %q", resp.StatusCode, body)
		}
	}
	step("see app-b turn down without reloading the page",
		chromedp.WaitVisible(css(`tr[data-server="app-b"] td.state-down`)),
	)
	if st := text(`tr[data-server="app-b"] td.state`); st != "down" {
		t.Errorf("app-b's state reads %q, want the word down", st)
	}

	step("purge the cached page through the form",
		chromedp.SendKeys(css(`form.purge input[name="url"]`), "/app/page.html"),
		chromedp.Click(css(`form.purge button`)),
		chromedp.WaitVisible(css("p.notice")),
	)
	if msg := text("p.notice"); !strings.Contains(msg, "Purged 1") {
		t.Errorf("after the purge the page says %q", msg)
	}
	if resp, _ := get(t, base+"/app/page.html"); resp.Header.Get("X-Cache") != "MISS" {
		t.Errorf("after the purge X-Cache = %q, want MISS", resp.Header.Get("X-Cache"))
	}

	shot := filepath.Join(s.dir, "resin-admin.png")
	t.Logf("screenshot: %s (%d bytes)", shot, chromiumtest.Screenshot(t, ctx, shot))
}
