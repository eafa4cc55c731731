package deploy

import (
	"os"
	"sync"
	"time"
)

// Versions is the set of unpacked versions of one deployed web-app on one
// server; *Versions implements core.Versions.
//
// Lifecycle: the newest version is current and serves every request
// without a known session. Switch makes a new version current; the one it
// replaces stays while sessions issued on it keep coming back, and is
// removed (its directory deleted) once none of them was seen for the idle
// time, the web-app's session timeout. Sessions are known only to the
// process that issued them: after a restart every request goes to the
// current version.
type Versions struct {
	idle time.Duration
	now  func() time.Time
	// onRemove is told the directory of each removed version.
	onRemove func(dir string)

	mu       sync.Mutex
	current  *version
	old      []*version
	sessions map[string]*pin
}

type version struct {
	dir string
}

type pin struct {
	v    *version
	seen time.Time
}

// NewVersions returns the versions of a web-app whose current version is
// dir; idle is how long an old version's sessions may stay silent before
// it is removed.
func NewVersions(dir string, idle time.Duration, onRemove func(string)) *Versions {
	if idle <= 0 {
		idle = 30 * time.Minute
	}
	return &Versions{idle: idle, now: time.Now, onRemove: onRemove,
		current: &version{dir: dir}, sessions: map[string]*pin{}}
}

// Root is the directory for a request with session id session.
func (vs *Versions) Root(session string) string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if p := vs.sessions[session]; session != "" && p != nil {
		p.seen = vs.now()
		return p.v.dir
	}
	return vs.current.dir
}

// Issued pins session to the version at root.
func (vs *Versions) Issued(session, root string) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	v := vs.current
	for _, o := range vs.old {
		if o.dir == root {
			v = o
		}
	}
	vs.sessions[session] = &pin{v: v, seen: vs.now()}
}

// Current is the directory of the current version.
func (vs *Versions) Current() string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.current.dir
}

// Switch makes dir the current version. The previous one stays for its
// sessions; without any it is removed at the next Sweep.
func (vs *Versions) Switch(dir string) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.current.dir == dir {
		return
	}
	prev := vs.current
	vs.current = &version{dir: dir}
	for i, o := range vs.old {
		if o.dir == dir {
			// Back to a version still kept: its sessions keep it.
			vs.current = o
			vs.old = append(vs.old[:i], vs.old[i+1:]...)
			break
		}
	}
	vs.old = append(vs.old, prev)
}

// Repoint moves the current version to dir (a fresh copy of the same
// tree) and returns the directory it had; the current version's sessions
// follow it.
func (vs *Versions) Repoint(dir string) string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	old := vs.current.dir
	vs.current.dir = dir
	return old
}

// Old lists the directories of versions kept for their sessions.
func (vs *Versions) Old() []string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var out []string
	for _, o := range vs.old {
		out = append(out, o.dir)
	}
	return out
}

// Sweep forgets sessions silent for the idle time and removes old
// versions no remaining session uses.
func (vs *Versions) Sweep() {
	vs.mu.Lock()
	now := vs.now()
	used := map[*version]bool{}
	for id, p := range vs.sessions {
		if now.Sub(p.seen) > vs.idle {
			delete(vs.sessions, id)
			continue
		}
		used[p.v] = true
	}
	var gone []string
	kept := vs.old[:0]
	for _, o := range vs.old {
		if used[o] {
			kept = append(kept, o)
		} else {
			gone = append(gone, o.dir)
		}
	}
	vs.old = kept
	vs.mu.Unlock()
	for _, d := range gone {
		if d != vs.Current() {
			os.RemoveAll(d)
		}
		if vs.onRemove != nil {
			vs.onRemove(d)
		}
	}
}

// Close removes every old version at once (undeploy, shutdown of the
// web-app) and returns the directories it held.
func (vs *Versions) Close() []string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	dirs := []string{vs.current.dir}
	for _, o := range vs.old {
		dirs = append(dirs, o.dir)
	}
	vs.old = nil
	vs.sessions = map[string]*pin{}
	return dirs
}
