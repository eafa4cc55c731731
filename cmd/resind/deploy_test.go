package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deployCluster is one cluster of four servers (a, b and c are the triad)
// serving /shop, a web-app resin.xml declares with sessions but whose
// files come from `resind deploy`.
const deployCluster = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    {{if .Users}}<resin:AdminAuthenticator>
      {{.Users}}
    </resin:AdminAuthenticator>{{end}}
    <server id="a" address="127.0.0.1" port="{{index .Cluster 0}}"><http address="127.0.0.1" port="{{index .HTTP 0}}"/></server>
    <server id="b" address="127.0.0.1" port="{{index .Cluster 1}}"><http address="127.0.0.1" port="{{index .HTTP 1}}"/></server>
    <server id="c" address="127.0.0.1" port="{{index .Cluster 2}}"><http address="127.0.0.1" port="{{index .HTTP 2}}"/></server>
    <server id="d" address="127.0.0.1" port="{{index .Cluster 3}}"><http address="127.0.0.1" port="{{index .HTTP 3}}"/></server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web"/>
      <web-app id="/shop" root-directory="${__DIR__}/not-deployed-yet">
        <session-config><session-timeout>2s</session-timeout></session-config>
      </web-app>
    </host>
  </cluster>
</resin>
`

type deploySite struct {
	*site
	Users         string
	Cluster, HTTP []int
}

func newDeploySite(t *testing.T, users bool) *deploySite {
	s := &deploySite{site: newSite(t)}
	for range 4 {
		s.Cluster = append(s.Cluster, freePort(t))
		s.HTTP = append(s.HTTP, freePort(t))
	}
	if users {
		s.Users = s.passwd("ssha", "admin", "s3cret")
	}
	s.write("resin.xml", deployCluster, s)
	s.writeRaw("web/index.html", "home")
	return s
}

// url is server i's public URL for path.
func (s *deploySite) url(i int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.HTTP[i], path)
}

// deploy runs `resind -server a deploy ARGS -user admin -password PASSWORD`.
func (s *deploySite) deploy(server, password string, args ...string) result {
	s.t.Helper()
	full := append([]string{"-server", server, "deploy"}, args...)
	return s.resind(append(full, "-user", "admin", "-password", password)...)
}

// targz writes a .tar.gz of files (name → content; content "->x" is a
// symbolic link to x) into the site and returns its path.
func (s *deploySite) targz(name string, files map[string]string) string {
	s.t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for n, body := range files {
		h := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if target, ok := strings.CutPrefix(body, "->"); ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, target, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			s.t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// served is what server i says it serves for /shop: its tree hash, "" for
// nothing.
func (s *deploySite) served(i int) string {
	req, _ := http.NewRequest("GET", s.url(i, "/resin-deploy/status"), nil)
	req.SetBasicAuth("admin", "s3cret")
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st []struct{ Tag, Tree string }
	json.NewDecoder(resp.Body).Decode(&st)
	for _, x := range st {
		if x.Tag == "production/webapp/default/shop" {
			return x.Tree
		}
	}
	return ""
}

// body fetches server i's path with the extra headers and returns the
// status and body ("" when the server is unreachable).
func body(t *testing.T, url string, hdr ...string) (int, string) {
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// treeLine pulls "tree HASH" out of deploy's output.
func treeLine(t *testing.T, out string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "tree ")
	if !ok || len(rest) < 40 {
		t.Fatalf("no tree hash in %q", out)
	}
	return rest[:40]
}

func TestDeployReachesEveryServerOfTheClusterAndLateServersCatchUp(t *testing.T) {
	t.Parallel()
	s := newDeploySite(t, true)
	for _, id := range []string{"a", "b", "c"} {
		s.start(id)
	}

	// Version 1.0, named by the archive, through server a.
	v1 := s.targz("shop-1.0.tar.gz", map[string]string{"index.html": "shop v1", "img/logo.txt": "logo", "home.html": "->index.html"})
	r := s.deploy("a", "s3cret", v1, "-m", "first release")
	if r.code != 0 || !strings.Contains(r.stdout, "deployed production/webapp/default/shop version 1.0") {
		t.Fatalf("deploy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	tree1 := treeLine(t, r.stdout)
	for i := range 3 {
		eventually(t, 20*time.Second, fmt.Sprintf("server %d serves shop v1", i), func() bool {
			_, b := body(t, s.url(i, "/shop/home.html"))
			return b == "shop v1" && s.served(i) == tree1
		})
	}
	// The repository is a real git repository, readable with git.
	if _, err := exec.LookPath("git"); err == nil {
		out, err := exec.Command("git", "--git-dir", filepath.Join(s.dir, "data", "c", "deploy", "repo.git"),
			"rev-parse", "production/webapp/default/shop-1.0^{tree}").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tree1 {
			t.Errorf("git on c's repository: %s %v, want tree %s", out, err, tree1)
		}
	}

	// A session started on 1.0 stays there while new visitors get 2.0.
	resp, _ := get(t, s.url(0, "/shop/"))
	var session string
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			session = c.Name + "=" + c.Value
		}
	}
	if session == "" {
		t.Fatalf("no session cookie from /shop/: %v", resp.Header)
	}
	// The visitor keeps clicking (the session times out after 2s of
	// silence) until told to stop.
	stopClicking := make(chan struct{})
	clicking := make(chan struct{})
	go func() {
		defer close(clicking)
		for {
			select {
			case <-stopClicking:
				return
			case <-time.After(200 * time.Millisecond):
				body(t, s.url(0, "/shop/"), "Cookie", session)
			}
		}
	}()
	defer func() {
		select {
		case <-clicking:
		default:
			close(stopClicking)
			<-clicking
		}
	}()

	// Version 2.0 from a directory, through server b: only the changed
	// file is sent.
	dir := filepath.Join(s.dir, "shop-2.0")
	os.MkdirAll(filepath.Join(dir, "img"), 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("shop v2"), 0o644)
	os.WriteFile(filepath.Join(dir, "img", "logo.txt"), []byte("logo"), 0o644)
	os.Symlink("index.html", filepath.Join(dir, "home.html"))
	r = s.deploy("b", "s3cret", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "version 2.0") || !strings.Contains(r.stdout, "sent 1 of 3 blobs") {
		t.Fatalf("deploy 2.0: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	tree2 := treeLine(t, r.stdout)
	for i := range 3 {
		eventually(t, 20*time.Second, fmt.Sprintf("server %d serves shop v2", i), func() bool {
			_, b := body(t, s.url(i, "/shop/"))
			return b == "shop v2" && s.served(i) == tree2
		})
	}
	if _, b := body(t, s.url(0, "/shop/"), "Cookie", session); b != "shop v1" {
		t.Errorf("the session started on 1.0 got %q", b)
	}
	close(stopClicking)
	<-clicking
	// Once that session is silent past its timeout (2s), 1.0 is removed.
	oldDir := filepath.Join(s.dir, "data", "a", "deploy", "webapps", "default", "shop", tree1)
	eventually(t, 20*time.Second, "the old version is removed", func() bool {
		_, err := os.Stat(oldDir)
		return os.IsNotExist(err)
	})
	if _, b := body(t, s.url(0, "/shop/"), "Cookie", session); b != "shop v2" {
		t.Errorf("after the old version went, the session got %q", b)
	}

	// A server started after the deployment serves it as soon as it is up.
	s.start("d")
	if _, b := body(t, s.url(3, "/shop/")); b != "shop v2" || s.served(3) != tree2 {
		t.Errorf("late server d serves %q (tree %s), want shop v2 (%s)", b, s.served(3), tree2)
	}

	// A server down during a deployment catches up when it comes back.
	// This one goes through d, outside the triad: d tells the triad,
	// which pulls from it.
	s.stop("c")
	v3 := s.targz("shop.tar.gz", map[string]string{"index.html": "shop v3"})
	r = s.deploy("d", "s3cret", v3, "-version", "3.0")
	if r.code != 0 {
		t.Fatalf("deploy 3.0: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	tree3 := treeLine(t, r.stdout)
	for i := range 2 {
		eventually(t, 20*time.Second, fmt.Sprintf("triad server %d has v3", i), func() bool { return s.served(i) == tree3 })
	}
	s.start("c")
	if _, b := body(t, s.url(2, "/shop/")); b != "shop v3" || s.served(2) != tree3 {
		t.Errorf("restarted server c serves %q, want shop v3", b)
	}
	for _, i := range []int{0, 1, 3} {
		eventually(t, 20*time.Second, fmt.Sprintf("server %d serves shop v3", i), func() bool {
			_, b := body(t, s.url(i, "/shop/"))
			return b == "shop v3" && s.served(i) == tree3
		})
	}

	// deploy-list shows every version; undeploy stops serving everywhere.
	r = s.resind("-server", "d", "deploy-list", "-user", "admin", "-password", "s3cret")
	for _, want := range []string{"production/webapp/default/shop-1.0\t1.0\t" + tree1, "production/webapp/default/shop-2.0\t2.0\t" + tree2,
		"production/webapp/default/shop\t3.0\t" + tree3} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("deploy-list lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	r = s.resind("-server", "b", "undeploy", "shop", "-user", "admin", "-password", "s3cret")
	if r.code != 0 {
		t.Fatalf("undeploy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := range 4 {
		eventually(t, 20*time.Second, fmt.Sprintf("server %d no longer serves shop", i), func() bool {
			code, _ := body(t, s.url(i, "/shop/"))
			return code == http.StatusNotFound
		})
	}
}

func TestBadDeploymentsAreRefusedAndChangeNothing(t *testing.T) {
	t.Parallel()
	s := newDeploySite(t, true)
	s.start("a")
	s.start("b")
	good := s.targz("shop-1.0.tar.gz", map[string]string{"index.html": "good"})
	if r := s.deploy("a", "s3cret", good); r.code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := range 2 {
		eventually(t, 20*time.Second, "the good version is served", func() bool {
			_, b := body(t, s.url(i, "/shop/"))
			return b == "good"
		})
	}
	unchanged := func(what string) {
		t.Helper()
		for i := range 2 {
			if _, b := body(t, s.url(i, "/shop/")); b != "good" {
				t.Errorf("after %s server %d serves %q", what, i, b)
			}
		}
		r := s.resind("-server", "a", "deploy-list", "-user", "admin", "-password", "s3cret")
		if n := strings.Count(r.stdout, "\n"); n != 2 {
			t.Errorf("after %s deploy-list has %d tags:\n%s", what, n, r.stdout)
		}
	}

	for _, c := range []struct {
		what  string
		files map[string]string
		want  string
	}{
		{"../ in a path", map[string]string{"index.html": "evil", "../escape.txt": "x"}, "leaves the web-app root"},
		{"an absolute path", map[string]string{"/etc/cron.d/x": "x"}, "absolute path"},
		{"a link out", map[string]string{"index.html": "evil", "passwd": "->../../../../etc/passwd"}, "symbolic link leaves the web-app root"},
	} {
		r := s.deploy("a", "s3cret", s.targz("shop-6.6.tar.gz", c.files))
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want refusal with %q", c.what, r.code, r.stderr, c.want)
		}
		unchanged(c.what)
	}

	// Wrong credentials.
	r := s.deploy("a", "wrong", s.targz("shop-7.0.tar.gz", map[string]string{"index.html": "evil"}))
	if r.code == 0 || !strings.Contains(r.stderr, "wrong user name or password") {
		t.Errorf("wrong password: exit %d %q", r.code, r.stderr)
	}
	unchanged("a wrong password")

	// A blob whose content does not match its hash is refused.
	good1 := "4c9d6a8a1fce1c58c3f9e0b5a5b7ad5bd1f2b0c1" // not the hash of "evil"
	req, _ := http.NewRequest("POST", s.url(1, "/resin-deploy/blobs"), strings.NewReader(good1+" blob 4\nevil"))
	req.SetBasicAuth("admin", "s3cret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	msg.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg.String(), "refused") {
		t.Errorf("tampered blob: %s %q", resp.Status, msg.String())
	}
	unchanged("a tampered blob")

	// Guessing passwords is cut short as on /resin-admin: after five
	// failures a minute even the right password waits.
	for i := 0; ; i++ {
		req, _ := http.NewRequest("GET", s.url(0, "/resin-deploy/list"), nil)
		req.SetBasicAuth("admin", fmt.Sprint("guess", i))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			if i < 4 || resp.Header.Get("Retry-After") == "" {
				t.Errorf("limited after %d guesses, Retry-After %q", i, resp.Header.Get("Retry-After"))
			}
			break
		}
		if resp.StatusCode != http.StatusUnauthorized || i > 6 {
			t.Fatalf("guess %d: %s", i, resp.Status)
		}
	}
	if r := s.resind("-server", "a", "deploy-list", "-user", "admin", "-password", "s3cret"); r.code == 0 || !strings.Contains(r.stderr, "too many failed logins") {
		t.Errorf("right password after guessing: exit %d %q", r.code, r.stderr)
	}

	// Cluster endpoints want the cluster signature, not a password.
	req, _ = http.NewRequest("GET", s.url(0, "/resin-deploy/cluster/refs"), nil)
	req.SetBasicAuth("admin", "s3cret")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned cluster request: %v %v", resp.Status, err)
	}
}

func TestRemoteDeployIsOffWithoutAdminUsers(t *testing.T) {
	t.Parallel()
	s := newDeploySite(t, false)
	s.start("a")
	r := s.deploy("a", "anything", s.targz("shop.tar.gz", map[string]string{"index.html": "x"}))
	if r.code == 0 || !strings.Contains(r.stderr, "remote deployment is off") {
		t.Errorf("deploy without users: exit %d %q", r.code, r.stderr)
	}
	if code, _ := body(t, s.url(0, "/shop/")); code != http.StatusNotFound {
		t.Errorf("/shop/ answers %d", code)
	}
}

func TestAdminDeployPageUploadsAndShowsEachServerAgainstTheTriad(t *testing.T) {
	t.Parallel()
	s := newDeploySite(t, true)
	s.start("a")
	s.start("b")

	// Upload through /resin-admin's form (as a script: Basic credentials).
	archive, err := os.ReadFile(s.targz("x.tar.gz", map[string]string{"index.html": "uploaded"}))
	if err != nil {
		t.Fatal(err)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("archive", "shop-4.0.tar.gz")
	fw.Write(archive)
	mw.WriteField("message", "from the page")
	mw.Close()
	req, _ := http.NewRequest("POST", s.url(0, "/resin-admin/deploy"), &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.SetBasicAuth("admin", "s3cret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "deployed=") || !strings.Contains(loc, "4.0") {
		t.Fatalf("upload: %s, Location %q", resp.Status, loc)
	}
	eventually(t, 20*time.Second, "b serves the uploaded version", func() bool {
		_, b := body(t, s.url(1, "/shop/"))
		return b == "uploaded"
	})

	page := func() string {
		req, _ := http.NewRequest("GET", s.url(1, "/resin-admin/deploy"), nil)
		req.SetBasicAuth("admin", "s3cret")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return b.String()
	}
	p := page()
	for _, want := range []string{`<tr data-server="a" class="match">`, `<tr data-server="b" class="match">`,
		`<tr data-server="c" class="down mismatch">`, `<tr data-server="d" class="down mismatch">`, "&#10007; differs", "4.0", `<form method="post" action="/resin-admin/deploy" enctype="multipart/form-data">`} {
		if !strings.Contains(p, want) {
			t.Errorf("deploy page lacks %q:\n%s", want, p)
		}
	}
	// c comes up, catches up, and turns green.
	s.start("c")
	if p := page(); !strings.Contains(p, `<tr data-server="c" class="match">`) {
		t.Errorf("after c caught up the page shows:\n%s", p)
	}

	// A bad upload is refused with the reason and changes nothing.
	form.Reset()
	mw = multipart.NewWriter(&form)
	fw, _ = mw.CreateFormFile("archive", "shop-5.0.tar.gz")
	fw.Write([]byte("not an archive"))
	mw.Close()
	req, _ = http.NewRequest("POST", s.url(0, "/resin-admin/deploy"), &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.SetBasicAuth("admin", "s3cret")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "error=") || !strings.Contains(loc, "gzip") {
		t.Errorf("bad upload: Location %q", loc)
	}
	if _, b := body(t, s.url(0, "/shop/")); b != "uploaded" {
		t.Errorf("after a bad upload a serves %q", b)
	}
}

func TestDeployToAStageThenCopyToProductionAndRestartRepairsFiles(t *testing.T) {
	t.Parallel()
	s := newDeploySite(t, true)
	s.start("a")
	admin := []string{"-user", "admin", "-password", "s3cret"}

	// A preview stage is stored (and replicated) but not served.
	r := s.deploy("a", "s3cret", s.targz("shop-2.1.tar.gz", map[string]string{"index.html": "staged", "about.html": "about"}), "-stage", "preview")
	if r.code != 0 || !strings.Contains(r.stdout, "preview/webapp/default/shop") {
		t.Fatalf("deploy to preview: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if code, _ := body(t, s.url(0, "/shop/")); code != http.StatusNotFound {
		t.Errorf("a preview deployment is served: %d", code)
	}
	r = s.resind(append([]string{"-server", "a", "deploy-copy", "-source", "shop", "-source-stage", "preview", "-target-stage", "production"}, admin...)...)
	if r.code != 0 {
		t.Fatalf("deploy-copy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, b := body(t, s.url(0, "/shop/")); b != "staged" {
		t.Errorf("after deploy-copy /shop/ serves %q", b)
	}
	r = s.resind(append([]string{"-server", "a", "deploy-list", "shop"}, admin...)...)
	if !strings.Contains(r.stdout, "production/webapp/default/shop\t2.1\t") || !strings.Contains(r.stdout, "preview/webapp/default/shop-2.1\t2.1\t") {
		t.Errorf("deploy-list after the copy:\n%s%s", r.stdout, r.stderr)
	}

	// Someone edits a served file by hand: webapp-restart puts the
	// deployed tree back.
	dirs, _ := filepath.Glob(filepath.Join(s.dir, "data", "a", "deploy", "webapps", "default", "shop", "*"))
	if len(dirs) != 1 {
		t.Fatalf("unpacked directories: %v", dirs)
	}
	os.WriteFile(filepath.Join(dirs[0], "index.html"), []byte("hacked"), 0o644)
	if _, b := body(t, s.url(0, "/shop/")); b != "hacked" {
		t.Fatalf("the edit is not visible: %q", b)
	}
	r = s.resind(append([]string{"-server", "a", "webapp-restart", "shop"}, admin...)...)
	if r.code != 0 {
		t.Fatalf("webapp-restart: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, b := body(t, s.url(0, "/shop/")); b != "staged" {
		t.Errorf("after webapp-restart /shop/ serves %q", b)
	}

	// Names that read as versions are refused, so version tags stay apart.
	r = s.deploy("a", "s3cret", s.targz("x.tar.gz", map[string]string{"index.html": "x"}), "-name", "shop-9")
	if r.code == 0 || !strings.Contains(r.stderr, `give -name shop -version 9`) {
		t.Errorf("-name shop-9: exit %d %q", r.code, r.stderr)
	}
}
