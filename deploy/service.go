package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
