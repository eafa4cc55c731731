package deploy

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// entry is one member of a test archive.
type entry struct {
	name   string
	body   string
	link   string // a symbolic link to this target
	dir    bool
	hard   bool
	mode   fs.FileMode
	header int64 // a size to claim in a zip header instead of the real one
}

func makeZip(t testing.TB, entries []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch {
		case e.dir:
			h.SetMode(fs.ModeDir | 0o755)
		case e.link != "":
			h.SetMode(fs.ModeSymlink | 0o777)
		case e.mode != 0:
			h.SetMode(e.mode)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if e.link != "" {
			w.Write([]byte(e.link))
		} else {
			w.Write([]byte(e.body))
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func makeTarGz(t testing.TB, entries []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		switch {
		case e.dir:
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		case e.hard:
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, e.body, 0
		case e.mode != 0:
			h.Mode = int64(e.mode)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

func readBoth(t *testing.T, entries []entry, lim Limits) (zipFiles []File, zipErr error, tarFiles []File, tarErr error) {
	z := makeZip(t, entries)
	zipFiles, zipErr = ReadZip(bytes.NewReader(z), int64(len(z)), lim)
	tarFiles, tarErr = ReadTarGz(bytes.NewReader(makeTarGz(t, entries)), lim)
	return
}

func TestArchivesReadTheSameFilesFromZipAndTarGz(t *testing.T) {
	entries := []entry{
		{name: "WEB-INF/", dir: true},
		{name: "index.html", body: "<h1>hi</h1>"},
		{name: "./css/site.css", body: "body{}"},
		{name: "bin/run.sh", body: "#!/bin/sh\n", mode: 0o755},
		{name: "latest.html", link: "index.html"},
		{name: "css/up.html", link: "../index.html"},
	}
	zf, zerr, tf, terr := readBoth(t, entries, Limits{})
	if zerr != nil || terr != nil {
		t.Fatalf("zip: %v, tar: %v", zerr, terr)
	}
	want := "bin/run.sh 100755|css/site.css 100644|css/up.html 120000|index.html 100644|latest.html 120000"
	for name, files := range map[string][]File{"zip": zf, "tar.gz": tf} {
		var got []string
		for _, f := range files {
			got = append(got, f.Path+" "+octal(f.Mode))
		}
		if strings.Join(got, "|") != want {
			t.Errorf("%s: got %q, want %q", name, strings.Join(got, "|"), want)
		}
	}
	zh, _ := TreeHash(zf)
	th, _ := TreeHash(tf)
	if zh != th {
		t.Errorf("the same files hash to %s from zip and %s from tar.gz", zh, th)
	}
}

func octal(m Mode) string {
	const digits = "01234567"
	var b []byte
	for v := uint32(m); v > 0; v /= 8 {
		b = append([]byte{digits[v%8]}, b...)
	}
	return string(b)
}

func TestArchivesWithPathsLeavingTheRootAreRefused(t *testing.T) {
	cases := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"dot-dot", []entry{{name: "../evil.txt", body: "x"}}, "leaves the web-app root"},
		{"dot-dot inside", []entry{{name: "a/../../evil.txt", body: "x"}}, "leaves the web-app root"},
		{"absolute", []entry{{name: "/etc/passwd", body: "x"}}, "absolute path"},
		{"drive letter", []entry{{name: "C:/x.txt", body: "x"}}, "absolute path"},
		{"backslash", []entry{{name: "..\\evil.txt", body: "x"}}, "backslash"},
		{"link to absolute", []entry{{name: "l", link: "/etc/passwd"}}, "absolute"},
		{"link out", []entry{{name: "a/l", link: "../../etc/passwd"}}, "leaves the web-app root"},
		{"link through link", []entry{{name: "s", link: "."}, {name: "t", link: "s/.."}}, "leaves the web-app root"},
		{"link chain out", []entry{{name: "d/up", link: ".."}, {name: "e", link: "d/up/d/up/.."}}, "leaves the web-app root"},
		{"link loop", []entry{{name: "a", link: "b"}, {name: "b", link: "a"}}, "too many levels"},
		{"file below link", []entry{{name: "d", link: "sub"}, {name: "sub/", dir: true}, {name: "d/x", body: "x"}}, "is both a file and a directory"},
		{"duplicate", []entry{{name: "a", body: "1"}, {name: "./a", body: "2"}}, "appears twice"},
		{"file and dir", []entry{{name: "a", body: "1"}, {name: "a/b", body: "2"}}, "is both a file and a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, zerr, _, terr := readBoth(t, c.entries, Limits{})
			for kind, err := range map[string]error{"zip": zerr, "tar.gz": terr} {
				var ae *ArchiveError
				if !errors.As(err, &ae) || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: got %v, want an archive error with %q", kind, err, c.want)
				}
			}
		})
	}
}

func TestArchivesPastTheLimitsAreRefused(t *testing.T) {
	many := []entry{{name: "a", body: "1"}, {name: "b", body: "2"}, {name: "c", body: "3"}}
	_, zerr, _, terr := readBoth(t, many, Limits{MaxFiles: 2})
	for _, err := range []error{zerr, terr} {
		if err == nil || !strings.Contains(err.Error(), "more than the limit of 2 files") {
			t.Errorf("three files with a limit of two: %v", err)
		}
	}
	// A highly compressible file expanding past the byte limit: refused
	// while reading, whatever its header says.
	big := []entry{{name: "zeros", body: strings.Repeat("0", 1<<20)}}
	_, zerr, _, terr = readBoth(t, big, Limits{MaxBytes: 64 << 10})
	for _, err := range []error{zerr, terr} {
		if err == nil || !strings.Contains(err.Error(), "more than the limit of 65536 bytes") {
			t.Errorf("1 MiB with a limit of 64 KiB: %v", err)
		}
	}
}

func TestHardLinksAndGarbageAreRefused(t *testing.T) {
	_, err := ReadTarGz(bytes.NewReader(makeTarGz(t, []entry{{name: "a", body: "x"}, {name: "b", hard: true, body: "a"}})), Limits{})
	if err == nil || !strings.Contains(err.Error(), "hard links") {
		t.Errorf("hard link: %v", err)
	}
	if _, err := ReadZip(bytes.NewReader([]byte("not a zip")), 9, Limits{}); err == nil || !strings.Contains(err.Error(), "not a readable zip") {
		t.Errorf("garbage zip: %v", err)
	}
	if _, err := ReadTarGz(bytes.NewReader([]byte("not gzip")), Limits{}); err == nil || !strings.Contains(err.Error(), "not a gzip stream") {
		t.Errorf("garbage tar.gz: %v", err)
	}
}

func TestDirectoriesAreReadWithTheirLinksAndRefuseSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "css"), 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(dir, "css", "a.css"), []byte("a"), 0o644)
	os.Symlink("../index.html", filepath.Join(dir, "css", "home.html"))
	files, err := ReadDir(dir, Limits{})
	if err != nil || len(files) != 3 {
		t.Fatalf("ReadDir: %v %v", files, err)
	}
	os.Symlink("/etc/passwd", filepath.Join(dir, "passwd"))
	if _, err := ReadDir(dir, Limits{}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("link to /etc/passwd: %v", err)
	}
	os.Remove(filepath.Join(dir, "passwd"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	if _, err := ReadDir(dir, Limits{}); err == nil || !strings.Contains(err.Error(), "special file") {
		t.Errorf("fifo: %v", err)
	}
}

// TestTreeHashIsGits checks the tree hash against git's own.
func TestTreeHashIsGits(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	for p, body := range map[string]string{"index.html": "hi", "a/b/c.txt": "c", "a/b.txt": "b", "a-b": "x", "a.b/z": "z", "z": ""} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh"), 0o755)
	os.Symlink("a/b.txt", filepath.Join(dir, "link"))
	files, err := ReadDir(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := TreeHash(files)
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", ".")
	git("add", "-A")
	if theirs := git("write-tree"); theirs != ours {
		t.Errorf("tree hash %s, git says %s", ours, theirs)
	}
}
