package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"resind/internal/chromiumtest"
)

// TestOperatorDeploysThroughTheAdminPageInChromium drives Debian's
// chromium: log in, follow the link to the deploy page, upload an archive
// with the form (session cookie and form token, as people do), and see
// every running server green with the triad's tree.
func TestOperatorDeploysThroughTheAdminPageInChromium(t *testing.T) {
	t.Parallel()
	s := newDeploySite(t, true)
	s.start("a")
	s.start("b")
	archive := s.targz("shop-1.5.tar.gz", map[string]string{"index.html": "from the browser"})

	ctx := chromiumtest.Start(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		chromiumtest.Step(t, ctx, what, actions...)
	}
	text := func(sel string) string { t.Helper(); return chromiumtest.Text(t, ctx, sel) }

	step("log in and open the deploy page from the server page",
		chromedp.Navigate(s.url(0, "/resin-admin/")),
		chromedp.WaitVisible(css("#user")),
		chromedp.SendKeys(css("#user"), "admin"),
		chromedp.SendKeys(css("#password"), "s3cret"),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css(`a[href="/resin-admin/deploy"]`)),
		// Clicked from the page's own script: the login's redirect may
		// still replace the document after WaitVisible found the link,
		// which leaves a DevTools click holding a stale node id.
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(document.querySelector('a[href="/resin-admin/deploy"]').click(), true)`)(ctx, t)
			return err
		}),
		chromedp.WaitVisible(css("#no-deployments")),
	)
	step("upload the archive",
		chromedp.SetUploadFiles(css("#archive"), []string{archive}),
		chromedp.SendKeys(css("#message"), "first from the page"),
		chromedp.Click(css(`#upload button`)),
		chromedp.WaitVisible(css("#deploy-message")),
	)
	if msg := text("#deploy-message"); !strings.Contains(msg, "production/webapp/default/shop version 1.5") {
		t.Errorf("after the upload the page says %q", msg)
	}
	// b pulls the deployment in; the page shows it once reloaded.
	eventually(t, 20*time.Second, "b serves the upload", func() bool {
		_, b := body(t, s.url(1, "/shop/"))
		return b == "from the browser"
	})
	step("see a and b match the triad and c, d differ",
		chromedp.Navigate(s.url(0, "/resin-admin/deploy")),
		chromedp.WaitVisible(css(`tr[data-server="a"] td.ok`)),
		chromedp.WaitVisible(css(`tr[data-server="b"] td.ok`)),
		chromedp.WaitVisible(css(`tr[data-server="c"] td.state-down`)),
	)
	if v := text(`tr[data-server="b"] td:nth-child(2)`); v != "1.5" {
		t.Errorf("b's version reads %q", v)
	}
	if x := text(`tr[data-server="d"] td.state-down`); !strings.Contains(x, "✗") {
		t.Errorf("d's mark reads %q", x)
	}

	shot := filepath.Join(s.dir, "resin-admin-deploy.png")
	t.Logf("screenshot: %s (%d bytes)", shot, chromiumtest.Screenshot(t, ctx, shot))
}
