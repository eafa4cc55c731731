package deploy

import (
	"bytes"
	"io"
	"path"
	"sort"
	"strings"
)

// collector gathers the entries of one archive and checks them as they
// come and, for symbolic links, once all are known.
type collector struct {
	lim   Limits
	bytes int64
	files map[string]*File
	dirs  map[string]bool
}

func newCollector(lim Limits) *collector {
	return &collector{lim: lim.orDefault(), files: map[string]*File{}, dirs: map[string]bool{}}
}

// read reads one entry's content, refusing it when the archive's total
// would pass the size limit (whatever size the entry's header claims).
func (c *collector) read(name string, r io.Reader) ([]byte, error) {
	left := c.lim.MaxBytes - c.bytes
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, left+1))
	if err != nil {
		return nil, refuse(name, "cannot be read: %v", err)
	}
	if n > left {
		return nil, refuse(name, "the files add up to more than the limit of %d bytes", c.lim.MaxBytes)
	}
	c.bytes += n
	return buf.Bytes(), nil
}

// CleanPath checks an entry name and returns it clean and relative. It
// refuses absolute names, ".." segments, backslashes and control
// characters.
func CleanPath(name string) (string, error) {
	if name == "" {
		return "", refuse(name, "empty name")
	}
	if strings.ContainsAny(name, "\\\x00") {
		return "", refuse(name, "backslash or NUL in the name")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", refuse(name, "control character in the name")
		}
	}
	if strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':') {
		return "", refuse(name, "absolute path")
	}
	var segs []string
	for _, s := range strings.Split(name, "/") {
		switch s {
		case "", ".":
		case "..":
			return "", refuse(name, "path leaves the web-app root (..)")
		default:
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return "", nil
	}
	return strings.Join(segs, "/"), nil
}

func (c *collector) dir(name string) error {
	p, err := CleanPath(name)
	if err != nil || p == "" {
		return err
	}
	if f := c.files[p]; f != nil {
		return refuse(name, "is both a file and a directory")
	}
	for d := p; d != "."; d = path.Dir(d) {
		c.dirs[d] = true
	}
	return nil
}

func (c *collector) add(name string, mode Mode, data []byte) error {
	p, err := CleanPath(name)
	if err != nil {
		return err
	}
	if p == "" {
		return refuse(name, "a file cannot be the web-app root itself")
	}
	if c.files[p] != nil {
		return refuse(name, "appears twice")
	}
	if c.dirs[p] {
		return refuse(name, "is both a file and a directory")
	}
	if len(c.files) >= c.lim.MaxFiles {
		return refuse("", "more than the limit of %d files", c.lim.MaxFiles)
	}
	if mode == Symlink {
		if len(data) == 0 {
			return refuse(name, "symbolic link without a target")
		}
	}
	c.files[p] = &File{Path: p, Mode: mode, Data: data}
	return c.dir(path.Dir(p))
}

func (c *collector) countBytes(name string, n int64) error {
	if c.bytes+n > c.lim.MaxBytes {
		return refuse(name, "the files add up to more than the limit of %d bytes", c.lim.MaxBytes)
	}
	c.bytes += n
	return nil
}

// finish checks what can only be checked on the whole tree (a file below a
// path that is a file or a link; links resolving outside the root) and
// returns the files sorted by path.
func (c *collector) finish() ([]File, error) {
	return checkTree(c.files)
}

// CheckFiles runs the checks of an archive on a list of files, for trees
// that arrive as a list (an upload) rather than as an archive.
func CheckFiles(files []File, lim Limits) ([]File, error) {
	c := newCollector(lim)
	for _, f := range files {
		switch f.Mode {
		case Regular, Executable, Symlink:
			if err := c.countBytes(f.Path, int64(len(f.Data))); err != nil {
				return nil, err
			}
		default:
			return nil, refuse(f.Path, "unsupported mode %o", f.Mode)
		}
		if err := c.add(f.Path, f.Mode, f.Data); err != nil {
			return nil, err
		}
	}
	return c.finish()
}

func checkTree(files map[string]*File) ([]File, error) {
	out := make([]File, 0, len(files))
	for p, f := range files {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if files[d] != nil {
				return nil, refuse(p, "lies below %q, which is a file or a link", d)
			}
		}
		if f.Mode == Symlink {
			if err := resolveLink(files, p); err != nil {
				return nil, err
			}
		}
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// resolveLink follows the link at p through the tree (links to links
// included) and refuses it when any step leaves the root.
func resolveLink(files map[string]*File, p string) error {
	target := string(files[p].Data)
	if strings.HasPrefix(target, "/") || strings.ContainsAny(target, "\\\x00") {
		return refuse(p, "symbolic link to an absolute path (%s)", target)
	}
	hops := 0
	var walk func(dir []string, target string) ([]string, error)
	walk = func(dir []string, target string) ([]string, error) {
		cur := append([]string(nil), dir...)
		for _, s := range strings.Split(target, "/") {
			switch s {
			case "", ".":
				continue
			case "..":
				if len(cur) == 0 {
					return nil, refuse(p, "symbolic link leaves the web-app root (%s)", target)
				}
				cur = cur[:len(cur)-1]
				continue
			}
			cur = append(cur, s)
			if l := files[strings.Join(cur, "/")]; l != nil && l.Mode == Symlink {
				if hops++; hops > 40 {
					return nil, refuse(p, "too many levels of symbolic links")
				}
				t := string(l.Data)
				if strings.HasPrefix(t, "/") {
					return nil, refuse(p, "symbolic link through an absolute link (%s)", t)
				}
				var err error
				if cur, err = walk(cur[:len(cur)-1], t); err != nil {
					return nil, err
				}
			}
		}
		return cur, nil
	}
	var dir []string
	if d := path.Dir(p); d != "." {
		dir = strings.Split(d, "/")
	}
	_, err := walk(dir, target)
	return err
}
