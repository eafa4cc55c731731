package deploy

import (
	"bytes"
	"strings"
	"testing"
)

// The archive readers take what anyone with an admin password uploads:
// whatever the bytes, they return checked files or an error, never panic,
// and never a path that leaves the root.
func checkFuzzed(t *testing.T, files []File, err error) {
	if err != nil {
		return
	}
	for _, f := range files {
		if p, err := CleanPath(f.Path); err != nil || p != f.Path || strings.HasPrefix(f.Path, "/") {
			t.Fatalf("unclean path %q accepted", f.Path)
		}
	}
	if _, err := TreeHash(files); err != nil {
		t.Fatalf("accepted files do not hash: %v", err)
	}
}

func FuzzReadZip(f *testing.F) {
	f.Add(makeZip(f, []entry{{name: "index.html", body: "hi"}, {name: "l", link: "index.html"}}))
	f.Add(makeZip(f, []entry{{name: "../x", body: "x"}}))
	f.Add(makeZip(f, []entry{{name: "d/", dir: true}, {name: "d/l", link: "../../x"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := ReadZip(bytes.NewReader(data), int64(len(data)), Limits{MaxBytes: 1 << 20, MaxFiles: 100})
		checkFuzzed(t, files, err)
	})
}

func FuzzReadTarGz(f *testing.F) {
	f.Add(makeTarGz(f, []entry{{name: "index.html", body: "hi"}, {name: "l", link: "index.html"}}))
	f.Add(makeTarGz(f, []entry{{name: "/abs", body: "x"}}))
	f.Add(makeTarGz(f, []entry{{name: "a", link: "b"}, {name: "b", link: "a"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := ReadTarGz(bytes.NewReader(data), Limits{MaxBytes: 1 << 20, MaxFiles: 100})
		checkFuzzed(t, files, err)
	})
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b", "../a", "/a", "a/./b/", "C:x", "a\\b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := CleanPath(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			t.Fatalf("CleanPath(%q) = %q", s, p)
		}
	})
}
