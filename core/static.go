package core

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"

	"go.uber.org/zap"
)

// serveStatic serves the file at rel (a cleaned path, "" or starting with
// "/") below app's root directory.
//
// What is never served, answered 404: anything outside the root (".."
// was already refused by cleanPath, and the file is opened through os.Root,
// so a symlink pointing out of the root cannot be followed); path segments
// starting with "." other than ".well-known" (".git", ".env"); WEB-INF and
// META-INF; anything but regular files. A directory is served by its
// index.html, never listed; "/dir" is redirected to "/dir/" as net/http
// does. http.ServeContent answers Range, HEAD and the conditional
// requests; the ETag is the file's mtime and size.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, app *webApp, rel string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writePage(w, http.StatusMethodNotAllowed, "Only GET and HEAD are allowed on static files.")
		return
	}
	if hiddenPath(rel) || app.root == "" {
		notFound(w)
		return
	}
	root, err := os.OpenRoot(app.root)
	if err != nil {
		// Opened per request so that a root directory replaced by a
		// deployment is seen at once.
		if ce := s.log.Check(zap.WarnLevel, "web-app root directory cannot be opened"); ce != nil {
			ce.Write(zap.String("web-app", app.ctx), zap.String("root", app.root), zap.Error(err))
		}
		notFound(w)
		return
	}
	defer root.Close()

	name := strings.TrimPrefix(rel, "/")
	if name == "" {
		name = "."
	}
	f, err := root.Open(name)
	if err != nil {
		s.logOpen(app, name, err)
		notFound(w)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		notFound(w)
		return
	}
	if fi.IsDir() {
		if !strings.HasSuffix(rel, "/") {
			loc := (&url.URL{Path: app.ctx + rel + "/"}).EscapedPath()
			if r.URL.RawQuery != "" {
				loc += "?" + r.URL.RawQuery
			}
			redirect(w, r, http.StatusMovedPermanently, loc)
			return
		}
		idx, err := root.Open(path.Join(name, "index.html"))
		if err != nil {
			notFound(w) // no directory listings
			return
		}
		defer idx.Close()
		if fi, err = idx.Stat(); err != nil {
			notFound(w)
			return
		}
		f = idx
	}
	if !fi.Mode().IsRegular() {
		notFound(w)
		return
	}
	w.Header().Set("Etag", fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size()))
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// logOpen notes at debug level why a file was not served; a symlink that
// leaves the root is worth a warning.
func (s *Server) logOpen(app *webApp, name string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		if ce := s.log.Check(zap.DebugLevel, "static file not found"); ce != nil {
			ce.Write(zap.String("root", app.root), zap.String("path", name))
		}
		return
	}
	if ce := s.log.Check(zap.WarnLevel, "static file refused"); ce != nil {
		ce.Write(zap.String("root", app.root), zap.String("path", name), zap.Error(err))
	}
}
