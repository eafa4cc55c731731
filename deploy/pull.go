package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

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
