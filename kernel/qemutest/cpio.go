package qemutest

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
)

// initFile is a file of the initramfs: data, or the contents of path.
type initFile struct {
	name string
	data []byte
	path string
	mode uint32
}

// writeInitramfs writes a gzipped cpio archive in the "newc" format the
// kernel unpacks: the directories dirs and those the files are in, then
// the files.
func writeInitramfs(out string, files []initFile, dirs []string) error {
	seen := map[string]bool{}
	for _, d := range dirs {
		seen[d] = true
	}
	for _, fl := range files {
		var parents []string
		for d := path.Dir(fl.name); d != "." && d != "/" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			dirs = append(dirs, parents[i])
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	ino := 1
	entry := func(name string, mode uint32, data []byte) error {
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		if _, err := io.WriteString(zw, hdr+name+"\x00"); err != nil {
			return err
		}
		if err := pad(zw, 110+len(name)+1); err != nil {
			return err
		}
		if _, err := zw.Write(data); err != nil {
			return err
		}
		return pad(zw, len(data))
	}
	for _, d := range dirs {
		if err := entry(d, 0o040755, nil); err != nil {
			return err
		}
	}
	for _, fl := range files {
		data := fl.data
		if fl.path != "" {
			if data, err = os.ReadFile(fl.path); err != nil {
				return err
			}
		}
		if err := entry(fl.name, 0o100000|fl.mode, data); err != nil {
			return err
		}
	}
	if err := entry("TRAILER!!!", 0, nil); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// pad writes the zeros that align a cpio entry part of n bytes to four.
func pad(w io.Writer, n int) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
