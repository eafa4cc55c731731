package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Switcher is where a Service makes deployed web-apps serve: the running
// server (core.Server.SetDeployed, adapted by the command). host is the
// <host id> ("" for the default host), ctx the context path; v nil
// returns the web-app to what resin.xml says.
type Switcher interface {
	Serve(host, ctx string, v *Versions)
}

// Options configure a Service.
type Options struct {
	// Dir holds the repository (repo.git) and the unpacked web-apps
	// (webapps/HOST/NAME/TREE); DATA/ID/deploy.
	Dir string
	// Server is this server's id, recorded in the commits it makes.
	Server string
	Limits Limits
	Log    *zap.Logger
	Apps   Switcher
	// SessionIdle is how long an old version waits for its sessions,
	// per context path ("" for the root web-app); 30 minutes when absent.
	SessionIdle func(host, ctx string) time.Duration
}

// Service is one server's deployment state: the repository, the web-apps
// it unpacked and switched in, and what it tells its peers.
//
// Lifecycle: NewService opens the repository and serves what its tags say
// (Sync); Deploy, Undeploy and Copy change tags and then Sync; Pull brings
// in what peers have; Close stops nothing but the sweeping of old
// versions.
type Service struct {
	opts Options
	repo *Repo
	log  *zap.Logger

	// mu serialises Sync, so two callers never unpack the same tree.
	mu   sync.Mutex
	apps map[Tag]*served

	stop chan struct{}
	done chan struct{}
}

// served is a web-app this server serves from the repository.
type served struct {
	commit   Commit
	dir      string
	versions *Versions
}

// NewService opens the repository under opts.Dir and switches in every
// web-app its tags name for the production stage.
func NewService(opts Options) (*Service, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	opts.Limits = opts.Limits.orDefault()
	repo, err := OpenRepo(filepath.Join(opts.Dir, "repo.git"))
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, repo: repo, log: opts.Log, apps: map[Tag]*served{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.Sync(); err != nil {
		s.log.Warn("deploy: serving the repository's web-apps", zap.Error(err))
	}
	s.removeStale()
	go s.sweep()
	return s, nil
}

// Repo is the service's repository.
func (s *Service) Repo() *Repo { return s.repo }

// Close stops sweeping old versions.
func (s *Service) Close() {
	close(s.stop)
	<-s.done
}

func (s *Service) sweep() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		var vs []*Versions
		for _, a := range s.apps {
			if a.versions != nil {
				vs = append(vs, a.versions)
			}
		}
		s.mu.Unlock()
		for _, v := range vs {
			v.Sweep()
		}
	}
}

func (s *Service) appDir(t Tag, tree string) string {
	return filepath.Join(s.opts.Dir, "webapps", t.Host, t.Name, tree)
}

func coreHost(t Tag) string {
	if t.Host == DefaultHost {
		return ""
	}
	return t.Host
}

// prepare makes sure the tree of c is unpacked and verified in its
// directory and returns it.
func (s *Service) prepare(t Tag, c Commit) (string, error) {
	dir := s.appDir(t, c.Tree)
	if _, err := os.Stat(dir); err == nil {
		if err := Verify(dir, c.Tree, s.opts.Limits); err == nil {
			return dir, nil
		} else if s.served(t) == dir {
			return "", fmt.Errorf("%s: the serving directory no longer matches its tree: %w", t, err)
		}
		s.log.Warn("deploy: unpacked directory does not match its tree; unpacking again", zap.String("dir", dir))
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	}
	files, err := s.repo.Files(c.Tree, s.opts.Limits)
	if err != nil {
		return "", err
	}
	if err := Unpack(files, dir, c.Tree, s.opts.Limits); err != nil {
		return "", err
	}
	return dir, nil
}

func (s *Service) served(t Tag) string {
	if a := s.apps[t]; a != nil {
		return a.dir
	}
	return ""
}

// Sync serves what the production tags say: each web-app whose tag moved
// is unpacked into a new directory and switched in; an undeployed one is
// removed. A web-app that fails to unpack keeps serving its old version;
// the errors are returned together.
func (s *Service) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	refs, err := s.repo.Refs()
	if err != nil {
		return err
	}
	var errs []error
	for name, hash := range refs {
		t, err := ParseTag(name)
		if err != nil || t.Stage != DefaultStage {
			continue // a versioned tag, or another stage
		}
		if a := s.apps[t]; a != nil && a.commit.Hash == hash {
			continue
		}
		if c, err := s.repo.Commit(hash); err != nil || c.App != name {
			// A version tag, "foo-1.2": its commit was made for "foo".
			continue
		}
		if err := s.activate(t, hash); err != nil {
			errs = append(errs, err)
			s.log.Error("deploy: web-app keeps its old version", zap.String("tag", name), zap.Error(err))
		}
	}
	return errors.Join(errs...)
}

// activate switches t to the commit hash; s.mu is held.
func (s *Service) activate(t Tag, hash string) error {
	c, err := s.repo.Commit(hash)
	if err != nil {
		return err
	}
	a := s.apps[t]
	if c.Undeploy {
		if a != nil {
			s.opts.Apps.Serve(coreHost(t), t.ContextPath(), nil)
			for _, d := range a.versions.Close() {
				os.RemoveAll(d)
			}
			delete(s.apps, t)
			s.log.Info("deploy: web-app undeployed", zap.String("tag", t.String()), zap.String("commit", hash))
		}
		s.apps[t] = &served{commit: c}
		return nil
	}
	dir, err := s.prepare(t, c)
	if err != nil {
		return err
	}
	if a == nil || a.versions == nil {
		idle := time.Duration(0)
		if s.opts.SessionIdle != nil {
			idle = s.opts.SessionIdle(coreHost(t), t.ContextPath())
		}
		a = &served{versions: NewVersions(dir, idle, nil)}
		s.apps[t] = a
	} else {
		a.versions.Switch(dir)
	}
	a.commit, a.dir = c, dir
	s.opts.Apps.Serve(coreHost(t), t.ContextPath(), a.versions)
	s.log.Info("deploy: web-app serves a new version", zap.String("tag", t.String()),
		zap.String("version", c.Version), zap.String("tree", c.Tree), zap.String("commit", hash))
	return nil
}

// removeStale deletes unpacked directories no served web-app uses (left
// by an earlier run: its sessions are gone with it).
func (s *Service) removeStale() {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]bool{}
	for _, a := range s.apps {
		if a.dir != "" {
			keep[a.dir] = true
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(s.opts.Dir, "webapps", "*", "*", "*"))
	for _, d := range dirs {
		if !keep[d] {
			os.RemoveAll(d)
		}
	}
}

// Status is one web-app as this server serves it.
type Status struct {
	Tag     string    `json:"tag"`
	Host    string    `json:"host"`
	Context string    `json:"context"`
	Version string    `json:"version"`
	Tree    string    `json:"tree"`
	Commit  string    `json:"commit"`
	Date    time.Time `json:"date"`
	Author  string    `json:"author"`
	Message string    `json:"message"`
	// Old are the versions kept for their sessions.
	Old int `json:"old_versions"`
}

// Served lists the web-apps this server serves, by tag.
func (s *Service) Served() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for t, a := range s.apps {
		if a.versions == nil {
			continue
		}
		out = append(out, Status{Tag: t.String(), Host: t.Host, Context: t.ContextPath(), Version: a.commit.Version,
			Tree: a.commit.Tree, Commit: a.commit.Hash, Date: a.commit.Time, Author: a.commit.Author,
			Message: a.commit.Message, Old: len(a.versions.Old())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out
}

// TagInfo is one tag of the repository, for deploy-list.
type TagInfo struct {
	Tag string `json:"tag"`
	Commit
}

// List lists the repository's tags.
func (s *Service) List() ([]TagInfo, error) {
	refs, err := s.repo.Refs()
	if err != nil {
		return nil, err
	}
	var out []TagInfo
	for name, hash := range refs {
		c, err := s.repo.Commit(hash)
		if err != nil {
			return nil, err
		}
		out = append(out, TagInfo{Tag: name, Commit: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, nil
}

// Request is a deployment: the tree (its blobs stored already) to become
// Tag's newest version.
type Request struct {
	Tag     Tag     `json:"tag"`
	Version string  `json:"version,omitempty"`
	Message string  `json:"message,omitempty"`
	User    string  `json:"user,omitempty"`
	Entries []Entry `json:"entries"`
	// Tree is the tree hash the client computed; the server refuses the
	// deployment unless the entries hash to it.
	Tree string `json:"tree"`
}

// Deploy checks r, stores its tree and commit, and, for the production
// stage, unpacks and switches the web-app in before moving its tag: a
// deployment that fails changes nothing.
func (s *Service) Deploy(r Request) (Commit, error) {
	if err := r.Tag.Check(); err != nil {
		return Commit{}, err
	}
	if err := CheckVersion(r.Version); err != nil {
		return Commit{}, err
	}
	if err := s.checkEntries(r.Entries); err != nil {
		return Commit{}, err
	}
	tree, err := s.repo.WriteTree(r.Entries)
	if err != nil {
		return Commit{}, err
	}
	if tree != r.Tree {
		return Commit{}, fmt.Errorf("the uploaded entries hash to tree %s, not %s: nothing deployed", tree, r.Tree)
	}
	return s.commit(r.Tag, Commit{Tree: tree, Version: r.Version, Message: r.Message, Author: r.User})
}

// checkEntries runs an archive's checks on uploaded entries, using the
// sizes of the stored blobs rather than the sizes claimed.
func (s *Service) checkEntries(entries []Entry) error {
	files := make([]File, len(entries))
	c := newCollector(s.opts.Limits)
	for i, e := range entries {
		if !s.repo.Has(e.Blob) {
			return fmt.Errorf("%s: blob %s was not uploaded", e.Path, e.Blob)
		}
		kind, data, err := s.repo.Raw(e.Blob)
		if err != nil {
			return err
		}
		if kind != "blob" {
			return fmt.Errorf("%s: %s is a %s, not a blob", e.Path, e.Blob, kind)
		}
		if err := c.countBytes(e.Path, int64(len(data))); err != nil {
			return err
		}
		files[i] = File{Path: e.Path, Mode: e.Mode}
		if e.Mode == Symlink {
			files[i].Data = data
		}
		if p, err := CleanPath(e.Path); err != nil || p != e.Path {
			if err == nil {
				err = refuse(e.Path, "not a clean path")
			}
			return err
		}
		switch e.Mode {
		case Regular, Executable, Symlink:
		default:
			return refuse(e.Path, "unsupported mode %o", e.Mode)
		}
		if err := c.add(e.Path, e.Mode, files[i].Data); err != nil {
			return err
		}
	}
	_, err := c.finish()
	return err
}

// commit records c for t (and t's version tag), switching the web-app in
// first when t is served here.
func (s *Service) commit(t Tag, c Commit) (Commit, error) {
	if isVersionTag(t.String()) {
		i := strings.LastIndexByte(t.Name, '-')
		n, v := t.Name[:i], t.Name[i+1:]
		return Commit{}, fmt.Errorf("name %q would read as %s version %s; give -name %s -version %s", t.Name, n, v, n, v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.App, c.Server = t.String(), s.opts.Server
	c.Time = time.Now()
	if prev := s.repo.Ref(t.String()); prev != "" {
		// Commits are dated to the second; keep each newer than the last
		// so "newest wins" orders them.
		if pc, err := s.repo.Commit(prev); err == nil && !c.Time.Round(time.Second).After(pc.Time) {
			c.Time = pc.Time.Add(time.Second)
		}
	}
	parent := s.repo.Ref(t.String())
	hash, err := s.repo.NewCommit(c, parent)
	if err != nil {
		return Commit{}, err
	}
	stored, err := s.repo.Commit(hash)
	if err != nil {
		return Commit{}, err
	}
	if t.Stage == DefaultStage && !c.Undeploy {
		if _, err := s.prepare(t, stored); err != nil {
			return Commit{}, fmt.Errorf("nothing deployed: %w", err)
		}
	}
	if ok, err := s.repo.SetRef(t.String(), hash, parent); err != nil || !ok {
		if err == nil {
			err = errors.New("another deployment of the same web-app came first; try again")
		}
		return Commit{}, err
	}
	if c.Version != "" {
		vt := t.Versioned(c.Version)
		if _, err := s.repo.SetRef(vt, hash, s.repo.Ref(vt)); err != nil {
			return Commit{}, err
		}
	}
	if t.Stage == DefaultStage {
		if err := s.activate(t, hash); err != nil {
			return Commit{}, err
		}
	}
	return stored, nil
}

// Undeploy records that t is no longer deployed; servers stop serving it.
func (s *Service) Undeploy(t Tag, user, msg string) (Commit, error) {
	if err := t.Check(); err != nil {
		return Commit{}, err
	}
	cur := s.repo.Ref(t.String())
	if cur == "" {
		return Commit{}, fmt.Errorf("%s is not deployed", t)
	}
	if c, err := s.repo.Commit(cur); err == nil && c.Undeploy {
		return Commit{}, fmt.Errorf("%s is not deployed", t)
	}
	empty, err := s.repo.EmptyTree()
	if err != nil {
		return Commit{}, err
	}
	return s.commit(t, Commit{Tree: empty, Undeploy: true, Author: user, Message: msg})
}

// Copy deploys the tree of from (its newest, or version's when version is
// set) as to's newest version, e.g. from a "preview" stage to
// "production".
func (s *Service) Copy(from Tag, version string, to Tag, toVersion, user, msg string) (Commit, error) {
	if err := from.Check(); err != nil {
		return Commit{}, err
	}
	if err := to.Check(); err != nil {
		return Commit{}, err
	}
	if err := CheckVersion(toVersion); err != nil {
		return Commit{}, err
	}
	name := from.String()
	if version != "" {
		name = from.Versioned(version)
	}
	hash := s.repo.Ref(name)
	if hash == "" {
		return Commit{}, fmt.Errorf("no tag %s", name)
	}
	src, err := s.repo.Commit(hash)
	if err != nil {
		return Commit{}, err
	}
	if src.Undeploy {
		return Commit{}, fmt.Errorf("%s is undeployed", name)
	}
	if toVersion == "" {
		toVersion = src.Version
	}
	if msg == "" {
		msg = "copy of " + name
	}
	return s.commit(to, Commit{Tree: src.Tree, Version: toVersion, Author: user, Message: msg})
}

// Restart unpacks t's current version into its directory again when what
// is there no longer matches the tree, and switches it in.
func (s *Service) Restart(t Tag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[t]
	if a == nil || a.versions == nil {
		return fmt.Errorf("%s is not served here", t)
	}
	if err := Verify(a.dir, a.commit.Tree, s.opts.Limits); err == nil {
		s.opts.Apps.Serve(coreHost(t), t.ContextPath(), a.versions)
		return nil
	}
	s.log.Warn("deploy: restart found the web-app's files changed; unpacking again", zap.String("tag", t.String()))
	files, err := s.repo.Files(a.commit.Tree, s.opts.Limits)
	if err != nil {
		return err
	}
	dir := fmt.Sprintf("%s-r%d", s.appDir(t, a.commit.Tree), time.Now().UnixNano())
	if err := Unpack(files, dir, a.commit.Tree, s.opts.Limits); err != nil {
		return err
	}
	// In-flight requests opened their root already; new ones see dir.
	os.RemoveAll(a.versions.Repoint(dir))
	a.dir = dir
	return nil
}

// Pull brings in from src every tag that is newer there, fetching only the
// objects this repository lacks and checking every object's hash, then
// serves what changed. It returns the number of tags that moved.
func (s *Service) Pull(ctx context.Context, src Source, peer string) (int, error) {
	refs, err := src.Refs(ctx, peer)
	if err != nil {
		return 0, err
	}
	moved := 0
	var errs []error
	for name, remote := range refs {
		if _, err := ParseTag(name); err != nil && !isVersionTag(name) {
			continue
		}
		local := s.repo.Ref(name)
		if local == remote {
			continue
		}
		if err := s.fetch(ctx, src, peer, remote); err != nil {
			errs = append(errs, fmt.Errorf("%s from %s: %w", name, peer, err))
			continue
		}
		if local != "" && !s.newer(remote, local) {
			continue
		}
		ok, err := s.repo.SetRef(name, remote, local)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			moved++
		}
	}
	if moved > 0 {
		if err := s.Sync(); err != nil {
			errs = append(errs, err)
		}
	}
	return moved, errors.Join(errs...)
}

// isVersionTag reports whether name is stage/webapp/host/name-version.
func isVersionTag(name string) bool {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return false
	}
	_, err := ParseTag(name[:i])
	return err == nil && CheckVersion(name[i+1:]) == nil
}

// newer reports whether commit a wins over commit b: the later one, or on
// the same second the greater hash, so that every server picks the same.
func (s *Service) newer(a, b string) bool {
	ca, err := s.repo.Commit(a)
	if err != nil {
		return false
	}
	cb, err := s.repo.Commit(b)
	if err != nil {
		return true
	}
	if !ca.Time.Equal(cb.Time) {
		return ca.Time.After(cb.Time)
	}
	return a > b
}

// fetch brings in commit and everything it reaches that is missing here,
// level by level.
func (s *Service) fetch(ctx context.Context, src Source, peer, commit string) error {
	want := []string{}
	if !s.repo.Has(commit) {
		want = append(want, commit)
	}
	queued := map[string]bool{commit: true}
	for len(want) > 0 {
		batch := want
		if len(batch) > 512 {
			batch = batch[:512]
		}
		want = want[len(batch):]
		objs, err := src.Objects(ctx, peer, batch)
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, o := range objs {
			if err := s.repo.Put(o.Hash, o.Kind, o.Data); err != nil {
				return err
			}
			got[o.Hash] = true
			refs, err := References(o.Kind, o.Data)
			if err != nil {
				return fmt.Errorf("object %s: %w", o.Hash, err)
			}
			for _, r := range refs {
				if !queued[r] && !s.repo.Has(r) {
					queued[r] = true
					want = append(want, r)
				}
			}
		}
		for _, h := range batch {
			if !got[h] {
				return fmt.Errorf("%s did not send object %s", peer, h)
			}
		}
	}
	return nil
}
