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
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
