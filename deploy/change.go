package deploy

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
)

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
		kind, size, err := s.repo.Stat(e.Blob)
		if err != nil {
			return err
		}
		if kind != "blob" {
			return fmt.Errorf("%s: %s is a %s, not a blob", e.Path, e.Blob, kind)
		}
		if err := c.countBytes(e.Path, size); err != nil {
			return err
		}
		files[i] = File{Path: e.Path, Mode: e.Mode}
		if e.Mode == Symlink {
			// The target is needed to check where the link leads.
			if _, files[i].Data, err = s.repo.Raw(e.Blob); err != nil {
				return err
			}
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
