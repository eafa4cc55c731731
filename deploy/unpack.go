package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// Unpack writes files into dir, which must not exist yet: into a fresh
// sibling directory first, renamed to dir only once every file is written
// and the tree read back hashes to tree. On any failure nothing is left
// behind and dir does not exist, so whatever served before goes on.
func Unpack(files []File, dir, tree string, lim Limits) error {
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("unpack: %s already exists", dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := dir + ".tmp-" + hex.EncodeToString(rnd[:])
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if err := write(files, tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	if err := Verify(tmp, tree, lim); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("unpack: %w", err)
	}
	return nil
}

// write creates files below tmp through os.Root, so that nothing, not even
// a link written earlier, can make a write land outside it.
func write(files []File, tmp string) error {
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, f := range files {
		if d := path.Dir(f.Path); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		switch f.Mode {
		case Symlink:
			err = root.Symlink(string(f.Data), f.Path)
		case Executable:
			err = root.WriteFile(f.Path, f.Data, 0o755)
		default:
			err = root.WriteFile(f.Path, f.Data, 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Verify reads the directory dir back and checks that its files hash to
// the git tree tree.
func Verify(dir, tree string, lim Limits) error {
	files, err := ReadDir(dir, lim)
	if err != nil {
		return err
	}
	got, err := TreeHash(files)
	if err != nil {
		return err
	}
	if got != tree {
		return fmt.Errorf("%s holds tree %s, not %s", dir, got, tree)
	}
	return nil
}
