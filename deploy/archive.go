// Package deploy is resind's deployment repository: web-apps uploaded with
// `resind deploy` are stored as commits of a git repository under the
// server's data directory (DATA/ID/deploy/repo.git, readable with git),
// tagged like Resin's "production/webapp/default/foo", replicated to the
// other servers of the cluster, unpacked into a fresh directory and
// switched in atomically, with sessions pinned to the version that issued
// them.
//
// This file reads what is deployed (a .war, .zip, .tar.gz or a directory)
// into a checked list of files. Nothing in an archive may leave the web-app
// root: absolute paths, ".." segments and symbolic links that resolve
// outside are refused, as are special files, duplicate paths and archives
// past the size and file-count limits. A refused archive changes nothing.
package deploy

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Limits bound what one deployment may hold.
type Limits struct {
	// MaxBytes is the total size of the files once unpacked.
	MaxBytes int64
	// MaxFiles is the number of files and symbolic links.
	MaxFiles int
}

// DefaultLimits are used where a zero Limits is given.
var DefaultLimits = Limits{MaxBytes: 512 << 20, MaxFiles: 50000}

func (l Limits) orDefault() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	return l
}

// Mode is the kind of a File, as git records it.
type Mode uint32

// The modes of a file in a deployment.
const (
	Regular    Mode = 0o100644
	Executable Mode = 0o100755
	Symlink    Mode = 0o120000
)

// File is one entry of a web-app: a regular file, or a symbolic link whose
// Data is its target.
type File struct {
	// Path is slash-separated, relative and clean ("WEB-INF/web.xml").
	Path string
	Mode Mode
	Data []byte
}

// ArchiveError is a refused archive; its message says what and where.
type ArchiveError struct {
	Entry string // the offending entry, "" for the whole archive
	Msg   string
}

func (e *ArchiveError) Error() string {
	if e.Entry == "" {
		return "archive refused: " + e.Msg
	}
	return fmt.Sprintf("archive refused: %q: %s", e.Entry, e.Msg)
}

func refuse(entry, format string, args ...any) error {
	return &ArchiveError{Entry: entry, Msg: fmt.Sprintf(format, args...)}
}

// ReadPath reads the deployment at p: a directory, or an archive named
// *.war, *.zip, *.jar, *.ear, *.tar.gz, *.tgz or *.tar.
func ReadPath(p string, lim Limits) ([]File, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return ReadDir(p, lim)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lower := strings.ToLower(p)
	switch {
	case hasAnySuffix(lower, ".war", ".zip", ".jar", ".ear"):
		return ReadZip(f, fi.Size(), lim)
	case hasAnySuffix(lower, ".tar.gz", ".tgz"):
		return ReadTarGz(f, lim)
	case strings.HasSuffix(lower, ".tar"):
		return ReadTar(f, lim)
	}
	return nil, fmt.Errorf("%s: not a directory, .war, .zip, .tar.gz or .tar", p)
}

func hasAnySuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// ReadZip reads a .war or .zip archive.
func ReadZip(r io.ReaderAt, size int64, lim Limits) ([]File, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, refuse("", "not a readable zip archive: %v", err)
	}
	c := newCollector(lim)
	for _, zf := range zr.File {
		m := zf.Mode()
		switch {
		case m.IsDir():
			if err := c.dir(zf.Name); err != nil {
				return nil, err
			}
			continue
		case m&fs.ModeSymlink != 0, m.IsRegular():
		default:
			return nil, refuse(zf.Name, "is a special file (%v)", m.Type())
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, refuse(zf.Name, "cannot be read: %v", err)
		}
		data, err := c.read(zf.Name, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if err := c.add(zf.Name, modeOf(m), data); err != nil {
			return nil, err
		}
	}
	return c.finish()
}

// ReadTarGz reads a gzip-compressed tar archive.
func ReadTarGz(r io.Reader, lim Limits) ([]File, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, refuse("", "not a gzip stream: %v", err)
	}
	defer zr.Close()
	return ReadTar(zr, lim)
}

// ReadTar reads an uncompressed tar archive.
func ReadTar(r io.Reader, lim Limits) ([]File, error) {
	tr := tar.NewReader(r)
	c := newCollector(lim)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, refuse("", "not a readable tar archive: %v", err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := c.dir(h.Name); err != nil {
				return nil, err
			}
		case tar.TypeReg, tar.TypeRegA:
			data, err := c.read(h.Name, tr)
			if err != nil {
				return nil, err
			}
			if err := c.add(h.Name, modeOf(h.FileInfo().Mode()), data); err != nil {
				return nil, err
			}
		case tar.TypeSymlink:
			if err := c.add(h.Name, Symlink, []byte(h.Linkname)); err != nil {
				return nil, err
			}
		case tar.TypeLink:
			return nil, refuse(h.Name, "hard links are not supported")
		case tar.TypeXGlobalHeader:
		default:
			return nil, refuse(h.Name, "is a special file (tar type %q)", h.Typeflag)
		}
	}
	return c.finish()
}

// ReadDir reads a directory tree. Symbolic links are kept as links (and
// checked like an archive's); sockets, devices and pipes are refused.
func ReadDir(root string, lim Limits) ([]File, error) {
	c := newCollector(lim)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t.IsDir():
			return c.dir(rel)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return c.add(rel, Symlink, []byte(filepath.ToSlash(target)))
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			data, err := c.read(rel, f)
			if err != nil {
				return err
			}
			return c.add(rel, modeOf(fi.Mode()), data)
		default:
			return refuse(rel, "is a special file (%v)", t)
		}
	})
	if err != nil {
		return nil, err
	}
	return c.finish()
}

func modeOf(m fs.FileMode) Mode {
	switch {
	case m&fs.ModeSymlink != 0:
		return Symlink
	case m&0o111 != 0:
		return Executable
	}
	return Regular
}

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
