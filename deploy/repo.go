package deploy

import (
	"bufio"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Tag names one deployed web-app in one stage, written like Resin's
// "production/webapp/default/foo": stage, "webapp", host ("default" for
// the default host) and name ("ROOT" is the root web-app, anything else
// the context path "/name").
type Tag struct {
	Stage, Host, Name string
}

// DefaultStage is the stage servers serve.
const DefaultStage = "production"

// DefaultHost is the host part of a tag for <host id="">.
const DefaultHost = "default"

var (
	partRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9_.-]{0,63}$`)
)

// ParseTag reads "stage/webapp/host/name".
func ParseTag(s string) (Tag, error) {
	p := strings.Split(s, "/")
	if len(p) != 4 || p[1] != "webapp" {
		return Tag{}, fmt.Errorf("tag %q is not stage/webapp/host/name", s)
	}
	t := Tag{Stage: p[0], Host: p[2], Name: p[3]}
	return t, t.Check()
}

// Check refuses names git or a path could misread.
func (t Tag) Check() error {
	for _, x := range []struct{ what, v string }{{"stage", t.Stage}, {"host", t.Host}, {"name", t.Name}} {
		if !partRE.MatchString(x.v) || strings.Contains(x.v, "..") || strings.HasSuffix(x.v, ".lock") || strings.HasSuffix(x.v, ".") {
			return fmt.Errorf("%s %q: use letters, digits, '_', '.' and '-' (not starting with '.' or '-')", x.what, x.v)
		}
	}
	return nil
}

// CheckVersion refuses a version git or a path could misread.
func CheckVersion(v string) error {
	if v == "" {
		return nil
	}
	if !versionRE.MatchString(v) || strings.Contains(v, "..") || strings.HasSuffix(v, ".lock") || strings.HasSuffix(v, ".") {
		return fmt.Errorf("version %q: start with a digit, then letters, digits, '_', '.' and '-'", v)
	}
	return nil
}

func (t Tag) String() string { return t.Stage + "/webapp/" + t.Host + "/" + t.Name }

// Versioned is the tag of one version, "production/webapp/default/foo-1.2".
func (t Tag) Versioned(version string) string { return t.String() + "-" + version }

// ContextPath is the web-app's context path: "" for ROOT, else "/name".
func (t Tag) ContextPath() string {
	if t.Name == "ROOT" {
		return ""
	}
	return "/" + t.Name
}

// Trailers of a deploy commit's message.
const (
	trailerApp      = "Resind-App"
	trailerVersion  = "Resind-Version"
	trailerUndeploy = "Resind-Undeploy"
	trailerServer   = "Resind-Server"
)

// Commit is what a deploy commit says.
type Commit struct {
	Hash     string
	Tree     string
	App      string // the tag it was made for
	Version  string
	Message  string
	Author   string
	Server   string // where it was deployed
	Time     time.Time
	Undeploy bool
}

// Repo is a server's deployment repository: a bare git repository whose
// tags point at deploy commits. One Repo per directory and process; it is
// safe for concurrent use.
type Repo struct {
	dir string
	r   *git.Repository
	// mu serialises reference updates (read-compare-write).
	mu sync.Mutex
}

// OpenRepo opens the bare repository in dir, creating it when missing.
func OpenRepo(dir string) (*Repo, error) {
	r, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("deploy repository %s: %w", dir, err)
	}
	return &Repo{dir: dir, r: r}, nil
}

// Dir is the repository's directory.
func (r *Repo) Dir() string { return r.dir }

func (r *Repo) store() storer.EncodedObjectStorer { return r.r.Storer }

// Has reports whether the object hash is stored.
func (r *Repo) Has(hash string) bool {
	return plumbing.IsHash(hash) && r.store().HasEncodedObject(plumbing.NewHash(hash)) == nil
}

// Put stores an object received from elsewhere after checking that its
// content hashes to want: a tampered or truncated object is refused.
func (r *Repo) Put(want string, kind string, data []byte) error {
	t, err := plumbing.ParseObjectType(kind)
	if err != nil || (t != plumbing.BlobObject && t != plumbing.TreeObject && t != plumbing.CommitObject) {
		return fmt.Errorf("object %s: unsupported type %q", want, kind)
	}
	if got := plumbing.ComputeHash(t, data).String(); got != want {
		return fmt.Errorf("object %s: content hashes to %s; refused", want, got)
	}
	_, err = putRaw(r.store(), t, data)
	return err
}

// PutBlob stores data as a blob and returns its hash.
func (r *Repo) PutBlob(data []byte) (string, error) {
	h, err := putRaw(r.store(), plumbing.BlobObject, data)
	return h.String(), err
}

// Raw returns an object's type and content.
func (r *Repo) Raw(hash string) (kind string, data []byte, err error) {
	if !plumbing.IsHash(hash) {
		return "", nil, fmt.Errorf("bad hash %q", hash)
	}
	o, err := r.store().EncodedObject(plumbing.AnyObject, plumbing.NewHash(hash))
	if err != nil {
		return "", nil, fmt.Errorf("object %s: %w", hash, err)
	}
	rd, err := o.Reader()
	if err != nil {
		return "", nil, err
	}
	defer rd.Close()
	data, err = io.ReadAll(rd)
	return o.Type().String(), data, err
}

// Stat returns an object's type and size, reading only the header of a
// loose object (the whole object when it is packed, e.g. after git gc).
func (r *Repo) Stat(hash string) (kind string, size int64, err error) {
	if !plumbing.IsHash(hash) {
		return "", 0, fmt.Errorf("bad hash %q", hash)
	}
	f, err := os.Open(filepath.Join(r.dir, "objects", hash[:2], hash[2:]))
	if err != nil {
		kind, data, err := r.Raw(hash)
		return kind, int64(len(data)), err
	}
	defer f.Close()
	zr, err := zlib.NewReader(f)
	if err != nil {
		return "", 0, fmt.Errorf("object %s: %w", hash, err)
	}
	defer zr.Close()
	hdr, err := bufio.NewReader(io.LimitReader(zr, 64)).ReadString(0)
	if err != nil {
		return "", 0, fmt.Errorf("object %s: header: %w", hash, err)
	}
	kind, n, ok := strings.Cut(strings.TrimSuffix(hdr, "\x00"), " ")
	if size, err = strconv.ParseInt(n, 10, 64); !ok || err != nil || size < 0 {
		return "", 0, fmt.Errorf("object %s: bad header %q", hash, hdr)
	}
	return kind, size, nil
}

// Refs returns every tag with the commit it points at.
func (r *Repo) Refs() (map[string]string, error) {
	it, err := r.r.Tags()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	err = it.ForEach(func(ref *plumbing.Reference) error {
		out[ref.Name().Short()] = ref.Hash().String()
		return nil
	})
	return out, err
}

// Ref returns the commit tag points at, "" when there is none.
func (r *Repo) Ref(tag string) string {
	ref, err := r.r.Reference(plumbing.NewTagReferenceName(tag), false)
	if err != nil {
		return ""
	}
	return ref.Hash().String()
}

// SetRef points tag at commit when old is what it points at now ("" for no
// tag yet); it reports whether it did.
func (r *Repo) SetRef(tag, commit, old string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Ref(tag) != old {
		return false, nil
	}
	if !r.Has(commit) {
		return false, fmt.Errorf("tag %s: commit %s is not stored", tag, commit)
	}
	return true, r.r.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName(tag), plumbing.NewHash(commit)))
}

// NewCommit stores a deploy commit of tree for tag c.App, with parent (""
// for none), and returns its hash. It moves no tag.
func (r *Repo) NewCommit(c Commit, parent string) (string, error) {
	if !r.Has(c.Tree) {
		return "", fmt.Errorf("tree %s is not stored", c.Tree)
	}
	when := c.Time
	if when.IsZero() {
		when = time.Now()
	}
	author := c.Author
	if author == "" {
		author = "resind"
	}
	sig := object.Signature{Name: author, Email: author + "@resind", When: when.Round(time.Second)}
	var msg strings.Builder
	msg.WriteString(strings.TrimSpace(c.Message))
	if msg.Len() == 0 {
		verb := "deploy"
		if c.Undeploy {
			verb = "undeploy"
		}
		fmt.Fprintf(&msg, "%s %s", verb, c.App)
		if c.Version != "" {
			fmt.Fprintf(&msg, " %s", c.Version)
		}
	}
	msg.WriteString("\n\n")
	fmt.Fprintf(&msg, "%s: %s\n", trailerApp, c.App)
	if c.Version != "" {
		fmt.Fprintf(&msg, "%s: %s\n", trailerVersion, c.Version)
	}
	if c.Server != "" {
		fmt.Fprintf(&msg, "%s: %s\n", trailerServer, c.Server)
	}
	if c.Undeploy {
		fmt.Fprintf(&msg, "%s: true\n", trailerUndeploy)
	}
	co := &object.Commit{Author: sig, Committer: sig, Message: msg.String(), TreeHash: plumbing.NewHash(c.Tree)}
	if parent != "" {
		co.ParentHashes = []plumbing.Hash{plumbing.NewHash(parent)}
	}
	o := r.store().NewEncodedObject()
	if err := co.Encode(o); err != nil {
		return "", err
	}
	h, err := r.store().SetEncodedObject(o)
	return h.String(), err
}

// EmptyTree stores the empty tree (an undeployed web-app) and returns its
// hash.
func (r *Repo) EmptyTree() (string, error) {
	h, err := writeTrees(r.store(), nil)
	return h.String(), err
}

// WriteTree stores the trees for entries, whose blobs must be stored, and
// returns the root tree's hash.
func (r *Repo) WriteTree(entries []Entry) (string, error) {
	for _, e := range entries {
		if !r.Has(e.Blob) {
			return "", fmt.Errorf("%s: blob %s is missing", e.Path, e.Blob)
		}
	}
	h, err := writeTrees(r.store(), entries)
	return h.String(), err
}

// Commit reads a deploy commit.
func (r *Repo) Commit(hash string) (Commit, error) {
	if !plumbing.IsHash(hash) {
		return Commit{}, fmt.Errorf("bad commit hash %q", hash)
	}
	co, err := object.GetCommit(r.store(), plumbing.NewHash(hash))
	if err != nil {
		return Commit{}, fmt.Errorf("commit %s: %w", hash, err)
	}
	return parseCommit(co), nil
}

func parseCommit(co *object.Commit) Commit {
	c := Commit{Hash: co.Hash.String(), Tree: co.TreeHash.String(), Author: co.Author.Name, Time: co.Committer.When}
	lines := strings.Split(strings.TrimRight(co.Message, "\n"), "\n")
	var body []string
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ": ")
		switch {
		case ok && k == trailerApp:
			c.App = v
		case ok && k == trailerVersion:
			c.Version = v
		case ok && k == trailerServer:
			c.Server = v
		case ok && k == trailerUndeploy:
			c.Undeploy = v == "true"
		default:
			body = append(body, l)
		}
	}
	c.Message = strings.TrimSpace(strings.Join(body, "\n"))
	return c
}

// Parents returns a commit's parent hashes.
func (r *Repo) Parents(hash string) ([]string, error) {
	co, err := object.GetCommit(r.store(), plumbing.NewHash(hash))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(co.ParentHashes))
	for i, p := range co.ParentHashes {
		out[i] = p.String()
	}
	return out, nil
}

// References lists the objects an object points at: a commit's tree and
// parents, a tree's entries.
func References(kind string, data []byte) ([]string, error) {
	t, err := plumbing.ParseObjectType(kind)
	if err != nil {
		return nil, err
	}
	o := &plumbing.MemoryObject{}
	o.SetType(t)
	o.Write(data)
	switch t {
	case plumbing.CommitObject:
		var co object.Commit
		if err := co.Decode(o); err != nil {
			return nil, err
		}
		out := []string{co.TreeHash.String()}
		for _, p := range co.ParentHashes {
			out = append(out, p.String())
		}
		return out, nil
	case plumbing.TreeObject:
		var tr object.Tree
		if err := tr.Decode(o); err != nil {
			return nil, err
		}
		var out []string
		for _, e := range tr.Entries {
			if e.Mode == filemode.Submodule {
				return nil, fmt.Errorf("tree entry %q is a submodule", e.Name)
			}
			out = append(out, e.Hash.String())
		}
		return out, nil
	}
	return nil, nil
}

// Files reads the tree tree as files, checking each path as an archive's
// would be checked (a tree from a peer is no more trusted than an upload).
func (r *Repo) Files(tree string, lim Limits) ([]File, error) {
	t, err := object.GetTree(r.store(), plumbing.NewHash(tree))
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", tree, err)
	}
	var files []File
	walker := object.NewTreeWalker(t, true, nil)
	defer walker.Close()
	for {
		name, e, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("tree %s: %w", tree, err)
		}
		var m Mode
		switch e.Mode {
		case filemode.Dir:
			continue
		case filemode.Regular, filemode.Deprecated:
			m = Regular
		case filemode.Executable:
			m = Executable
		case filemode.Symlink:
			m = Symlink
		default:
			return nil, fmt.Errorf("tree %s: %s: unsupported mode %v", tree, name, e.Mode)
		}
		_, data, err := r.Raw(e.Hash.String())
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: name, Mode: m, Data: data})
	}
	return CheckFiles(files, lim)
}
