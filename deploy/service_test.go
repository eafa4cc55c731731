package deploy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"resind/conf"
)

// switchboard records what a Service asks the server to serve.
type switchboard struct {
	mu   sync.Mutex
	apps map[string]*Versions
}

func (s *switchboard) Serve(host, ctx string, v *Versions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == nil {
		delete(s.apps, host+ctx)
		return
	}
	s.apps[host+ctx] = v
}

// file reads name from the current version of the web-app at ctx.
func (s *switchboard) file(ctx, name string) string {
	s.mu.Lock()
	v := s.apps[ctx]
	s.mu.Unlock()
	if v == nil {
		return "<not served>"
	}
	b, err := os.ReadFile(filepath.Join(v.Root(""), name))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func newTestService(t *testing.T, id string) (*Service, *switchboard) {
	t.Helper()
	sw := &switchboard{apps: map[string]*Versions{}}
	s, err := NewService(Options{Dir: t.TempDir(), Server: id, Apps: sw})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, sw
}

// deployFiles deploys files as tag foo the way the API does: blobs first,
// then the entries with their tree hash.
func deployFiles(t *testing.T, s *Service, version string, files map[string]string) Commit {
	t.Helper()
	var fs []File
	for p, body := range files {
		fs = append(fs, File{Path: p, Mode: Regular, Data: []byte(body)})
	}
	fs, err := CheckFiles(fs, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if _, err := s.repo.PutBlob(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	tree, _ := TreeHash(fs)
	c, err := s.Deploy(Request{Tag: Tag{"production", "default", "foo"}, Version: version, Entries: Entries(fs), Tree: tree})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeployServesTheNewVersionAndRefusesAMismatchedTree(t *testing.T) {
	s, sw := newTestService(t, "a")
	c1 := deployFiles(t, s, "1.0", map[string]string{"index.html": "v1", "a/b.txt": "b"})
	if got := sw.file("/foo", "a/b.txt"); got != "b" {
		t.Fatalf("after deploy: %q", got)
	}
	// Entries that do not hash to the tree the client announced.
	fs := []File{{Path: "index.html", Mode: Regular, Data: []byte("v2")}}
	s.repo.PutBlob(fs[0].Data)
	_, err := s.Deploy(Request{Tag: Tag{"production", "default", "foo"}, Entries: Entries(fs), Tree: c1.Tree})
	if err == nil || !strings.Contains(err.Error(), "nothing deployed") {
		t.Errorf("mismatched tree: %v", err)
	}
	// A blob never uploaded.
	_, err = s.Deploy(Request{Tag: Tag{"production", "default", "foo"}, Entries: []Entry{{Path: "x", Mode: Regular, Blob: strings.Repeat("ab", 20)}}, Tree: c1.Tree})
	if err == nil || !strings.Contains(err.Error(), "was not uploaded") {
		t.Errorf("missing blob: %v", err)
	}
	if got := sw.file("/foo", "index.html"); got != "v1" || s.repo.Ref("production/webapp/default/foo") != c1.Hash {
		t.Errorf("refused deployments changed what is served: %q", got)
	}
	// A restarted service serves the same version from the same directory.
	s2, err := NewService(Options{Dir: s.opts.Dir, Server: "a", Apps: sw})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st := s2.Served(); len(st) != 1 || st[0].Tree != c1.Tree || st[0].Version != "1.0" {
		t.Errorf("after restart: %+v", st)
	}
}

func TestUnpackFailureLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	files := []File{{Path: "index.html", Mode: Regular, Data: []byte("x")}}
	tree, _ := TreeHash(files)
	if err := Unpack(files, filepath.Join(dir, "file", "app"), tree, Limits{}); err == nil {
		t.Fatal("unpack below a file succeeded")
	}
	if err := Unpack(files, filepath.Join(dir, "app"), strings.Repeat("0", 40), Limits{}); err == nil || !strings.Contains(err.Error(), "holds tree") {
		t.Fatalf("unpack with the wrong tree hash: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("failed unpacks left %v", entries)
	}
}

// peerServer serves s's API over real HTTP and counts the objects peers
// ask for.
func peerServer(t *testing.T, s *Service, secret []byte) (*httptest.Server, *int) {
	h := NewHandler(s, nil, func(*http.Request, []conf.AdminUser, string, string) (bool, time.Duration) { return false, 0 }, nil)
	h.SetAuth(nil, secret)
	var mu sync.Mutex
	asked := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/cluster/objects") {
			b, _ := io.ReadAll(r.Body)
			var req struct{ Want []string }
			json.Unmarshal(b, &req)
			mu.Lock()
			*asked += len(req.Want)
			mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(b)))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, asked
}

func TestPullFetchesOnlyWhatIsMissingAndServesIt(t *testing.T) {
	secret := []byte("k")
	a, _ := newTestService(t, "a")
	b, swb := newTestService(t, "b")
	srv, asked := peerServer(t, a, secret)
	peers := NewHTTPPeers("b", []Peer{{ID: "a", Address: strings.TrimPrefix(srv.URL, "http://"), Triad: true}}, secret, nil)

	files := map[string]string{"index.html": "v1", "css/a.css": "a", "css/b.css": "b", "img/x.png": "x"}
	c1 := deployFiles(t, a, "1.0", files)
	n, err := b.Pull(context.Background(), peers, "a")
	if err != nil || n != 2 { // foo and foo-1.0
		t.Fatalf("first pull: %d tags, %v", n, err)
	}
	if *asked != 1+3+4 { // commit, trees (root, css, img), blobs
		t.Errorf("first pull asked for %d objects", *asked)
	}
	if got := swb.file("/foo", "css/b.css"); got != "b" {
		t.Errorf("b serves %q", got)
	}

	// Change one file: the second pull fetches the commit, the trees on
	// the changed path and the one new blob; not the rest, nor the parent.
	*asked = 0
	files["css/b.css"] = "b2"
	c2 := deployFiles(t, a, "2.0", files)
	if _, err := b.Pull(context.Background(), peers, "a"); err != nil {
		t.Fatal(err)
	}
	if *asked != 4 { // commit, root tree, css tree, blob
		t.Errorf("second pull asked for %d objects, want 4", *asked)
	}
	if got := swb.file("/foo", "css/b.css"); got != "b2" || b.repo.Ref("production/webapp/default/foo") != c2.Hash {
		t.Errorf("b serves %q", got)
	}
	if b.repo.Ref("production/webapp/default/foo-1.0") != c1.Hash {
		t.Error("version tag 1.0 not replicated")
	}

	// A wrong secret is refused.
	bad := NewHTTPPeers("b", []Peer{{ID: "a", Address: strings.TrimPrefix(srv.URL, "http://"), Triad: true}}, []byte("other"), nil)
	if _, err := b.Pull(context.Background(), bad, "a"); err == nil || !strings.Contains(err.Error(), "bad cluster signature") {
		t.Errorf("pull with a wrong secret: %v", err)
	}
}

// lyingPeer is a Source whose objects are not what their hashes say, or
// whose trees hold paths an archive could not.
type lyingPeer struct {
	refs    map[string]string
	objects map[string]Object
}

func (p *lyingPeer) Refs(context.Context, string) (map[string]string, error) { return p.refs, nil }
func (p *lyingPeer) Objects(_ context.Context, _ string, want []string) ([]Object, error) {
	var out []Object
	for _, h := range want {
		out = append(out, p.objects[h])
	}
	return out, nil
}
func (p *lyingPeer) Notify(context.Context) {}
func (p *lyingPeer) Upstream() []string     { return []string{"liar"} }

func TestObjectsFromPeersAreCheckedAndABadTreeKeepsTheOldVersion(t *testing.T) {
	b, sw := newTestService(t, "b")
	c1 := deployFiles(t, b, "", map[string]string{"index.html": "good"})

	// A peer sends a commit whose content does not hash to its name.
	fake := strings.Repeat("12", 20)
	liar := &lyingPeer{refs: map[string]string{"production/webapp/default/foo": fake},
		objects: map[string]Object{fake: {Hash: fake, Kind: "commit", Data: []byte("tree 0000\n")}}}
	if _, err := b.Pull(context.Background(), liar, "liar"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("tampered commit: %v", err)
	}

	// A peer sends a well-formed tree that escapes the root (an entry
	// named ".."): stored, but never unpacked; the old version serves.
	src, _ := newTestService(t, "src")
	blob, _ := src.repo.PutBlob([]byte("evil"))
	tree, err := writeTrees(src.repo.store(), []Entry{{Path: "../escape.txt", Mode: Regular, Blob: blob}})
	if err != nil {
		t.Fatal(err)
	}
	commit, err := src.repo.NewCommit(Commit{Tree: tree.String(), App: "production/webapp/default/foo", Time: time.Now().Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	liar = &lyingPeer{refs: map[string]string{"production/webapp/default/foo": commit}, objects: map[string]Object{}}
	for _, h := range []string{commit, tree.String(), blob} {
		kind, data, _ := src.repo.Raw(h)
		liar.objects[h] = Object{Hash: h, Kind: kind, Data: data}
	}
	// The ".." subtree.
	_, rootData, _ := src.repo.Raw(tree.String())
	refs, _ := References("tree", rootData)
	for _, h := range refs {
		kind, data, _ := src.repo.Raw(h)
		liar.objects[h] = Object{Hash: h, Kind: kind, Data: data}
	}
	_, err = b.Pull(context.Background(), liar, "liar")
	if err == nil || !strings.Contains(err.Error(), `".."`) {
		t.Errorf("escaping tree: %v", err)
	}
	if got := sw.file("/foo", "index.html"); got != "good" {
		t.Errorf("after a bad tree the web-app serves %q", got)
	}
	if st := b.Served(); len(st) != 1 || st[0].Commit != c1.Hash {
		t.Errorf("served: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(b.opts.Dir, "webapps", "escape.txt")); err == nil {
		t.Error("the escaping file was written")
	}
}

func TestSessionsStayOnTheVersionThatIssuedThem(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	os.Mkdir(v1, 0o755)
	os.Mkdir(v2, 0o755)
	now := time.Unix(1000, 0)
	vs := NewVersions(v1, time.Minute, nil)
	vs.now = func() time.Time { return now }
	vs.Issued("old-session", vs.Root(""))
	vs.Switch(v2)
	if got := vs.Root(""); got != v2 {
		t.Errorf("a new visitor gets %s", got)
	}
	vs.Issued("new-session", vs.Root(""))
	if got := vs.Root("old-session"); got != v1 {
		t.Errorf("the old session gets %s", got)
	}
	if got := vs.Root("new-session"); got != v2 {
		t.Errorf("the new session gets %s", got)
	}
	now = now.Add(50 * time.Second)
	vs.Sweep()
	if _, err := os.Stat(v1); err != nil || vs.Root("old-session") != v1 {
		t.Fatal("the old version went while its session was active")
	}
	now = now.Add(61 * time.Second)
	vs.Sweep()
	if _, err := os.Stat(v1); !os.IsNotExist(err) {
		t.Errorf("the old version stays after its sessions went silent: %v", err)
	}
	if got := vs.Root("old-session"); got != v2 {
		t.Errorf("the expired session gets %s", got)
	}
}

func TestStatReadsTypeAndSizeLikeGit(t *testing.T) {
	s, _ := newTestService(t, "a")
	data := []byte(strings.Repeat("resind ", 1000))
	h, err := s.repo.PutBlob(data)
	if err != nil {
		t.Fatal(err)
	}
	kind, size, err := s.repo.Stat(h)
	if err != nil || kind != "blob" || size != int64(len(data)) {
		t.Errorf("Stat = %q %d %v, want blob %d", kind, size, err, len(data))
	}
	tree, _ := s.repo.EmptyTree()
	if kind, size, err := s.repo.Stat(tree); err != nil || kind != "tree" || size != 0 {
		t.Errorf("Stat(empty tree) = %q %d %v", kind, size, err)
	}
	if _, _, err := s.repo.Stat(strings.Repeat("0", 40)); err == nil {
		t.Error("Stat of a missing object succeeded")
	}
}

func TestATreeCannotPassForABlob(t *testing.T) {
	s, _ := newTestService(t, "a")
	tree, _ := s.repo.EmptyTree()
	entries := []Entry{{Path: "index.html", Mode: Regular, Blob: tree}}
	_, err := s.Deploy(Request{Tag: Tag{"production", "default", "foo"}, Entries: entries, Tree: tree})
	if err == nil || !strings.Contains(err.Error(), "is a tree, not a blob") {
		t.Errorf("a tree as a file: %v", err)
	}
}
