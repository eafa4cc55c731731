package deploy

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// BlobHash is the git blob hash of data.
func BlobHash(data []byte) string {
	return plumbing.ComputeHash(plumbing.BlobObject, data).String()
}

// TreeHash is the git tree hash of files, as git would compute it.
func TreeHash(files []File) (string, error) {
	h, err := writeTree(memory.NewStorage(), files, nil)
	return h.String(), err
}

// Entry is one file of a tree as uploaded: its path, mode and blob hash.
type Entry struct {
	Path string `json:"path"`
	Mode Mode   `json:"mode"`
	Blob string `json:"blob"`
	Size int64  `json:"size"`
}

// Entries lists files as entries.
func Entries(files []File) []Entry {
	out := make([]Entry, len(files))
	for i, f := range files {
		out[i] = Entry{Path: f.Path, Mode: f.Mode, Blob: BlobHash(f.Data), Size: int64(len(f.Data))}
	}
	return out
}

// writeTree stores the blobs of files (unless blobs already hold them:
// then data may be nil) and the trees, and returns the root tree's hash.
func writeTree(st storer.EncodedObjectStorer, files []File, have func(string) bool) (plumbing.Hash, error) {
	entries := make([]Entry, len(files))
	for i, f := range files {
		h := BlobHash(f.Data)
		entries[i] = Entry{Path: f.Path, Mode: f.Mode, Blob: h, Size: int64(len(f.Data))}
		if have != nil && have(h) {
			continue
		}
		if _, err := putRaw(st, plumbing.BlobObject, f.Data); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	return writeTrees(st, entries)
}

// writeTrees stores the tree objects for entries (their blobs must be
// stored already) and returns the root tree's hash.
func writeTrees(st storer.EncodedObjectStorer, entries []Entry) (plumbing.Hash, error) {
	// children[dir] are the entries directly in dir ("" is the root).
	children := map[string][]object.TreeEntry{"": nil}
	var dirs []string
	known := map[string]bool{"": true}
	for _, e := range entries {
		var m filemode.FileMode
		switch e.Mode {
		case Regular:
			m = filemode.Regular
		case Executable:
			m = filemode.Executable
		case Symlink:
			m = filemode.Symlink
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s: unsupported mode %o", e.Path, e.Mode)
		}
		if !plumbing.IsHash(e.Blob) {
			return plumbing.ZeroHash, fmt.Errorf("%s: bad blob hash %q", e.Path, e.Blob)
		}
		d, name := path.Split(e.Path)
		d = strings.TrimSuffix(d, "/")
		children[d] = append(children[d], object.TreeEntry{Name: name, Mode: m, Hash: plumbing.NewHash(e.Blob)})
		for ; !known[d]; d = parentDir(d) {
			known[d] = true
			dirs = append(dirs, d)
		}
	}
	// Deepest first, so a directory's subtrees exist before it.
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range append(dirs, "") {
		t := &object.Tree{Entries: children[d]}
		sort.Sort(object.TreeEntrySorter(t.Entries))
		o := st.NewEncodedObject()
		if err := t.Encode(o); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("tree %q: %w", d, err)
		}
		h, err := st.SetEncodedObject(o)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if d == "" {
			return h, nil
		}
		p, name := parentDir(d), path.Base(d)
		children[p] = append(children[p], object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	panic("unreachable")
}

func parentDir(d string) string {
	if i := strings.LastIndexByte(d, '/'); i >= 0 {
		return d[:i]
	}
	return ""
}

func putRaw(st storer.EncodedObjectStorer, t plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	o := st.NewEncodedObject()
	o.SetType(t)
	o.SetSize(int64(len(data)))
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(o)
}
