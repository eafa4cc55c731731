package admin

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DeployCell is one server's version of one deployed web-app.
type DeployCell struct {
	Server  string
	Triad   bool
	Served  bool
	Version string
	Tree    string
	Short   string // Tree's first 12 characters, filled in by the page
	Date    time.Time
	// Matches is true when Tree is the tree the triad serves.
	Matches bool
	// Error says why the server could not be asked.
	Error string
}

// DeployApp is one deployed web-app across the servers of the cluster.
type DeployApp struct {
	Tag       string
	TriadTree string
	Servers   []DeployCell
}

// Deployments is what the deploy page shows and where its upload form
// deploys; cmd/resind's deployer.
type Deployments interface {
	// Apps lists every deployed web-app and what each server serves.
	Apps(ctx context.Context) []DeployApp
	// Upload deploys the archive named filename (its extension tells the
	// kind) read from r, for user, and says what it did.
	Upload(user, filename string, r io.Reader, name, version, message string) (string, error)
}

// maxUpload bounds an archive sent through the upload form.
const maxUpload = 512 << 20

// SetDeployments adds the deploy page, /resin-admin/deploy, showing d. It
// is called once, after New.
func (h *Handler) SetDeployments(d Deployments) {
	h.mux.Handle("GET "+Prefix+"/deploy", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.deployPage(w, r, d) }))
	h.mux.Handle("POST "+Prefix+"/deploy", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.deployUpload(w, r, d) }))
}

type deployData struct {
	CSRF    string
	User    string
	Apps    []DeployApp
	Message string
	Error   string
}

func (h *Handler) deployPage(w http.ResponseWriter, r *http.Request, d Deployments) {
	token, err := h.csrfFor(w, r)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	apps := d.Apps(ctx)
	for i := range apps {
		for j := range apps[i].Servers {
			apps[i].Servers[j].Short = short(apps[i].Servers[j].Tree)
		}
	}
	q := r.URL.Query()
	h.render(w, "deploy.html", http.StatusOK, deployData{CSRF: token, User: principalOf(r).user,
		Apps: apps, Message: q.Get("deployed"), Error: q.Get("error")})
}

// deployUpload takes the upload form (its CSRF token was checked by
// authorize) and deploys the archive.
func (h *Handler) deployUpload(w http.ResponseWriter, r *http.Request, d Deployments) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	q := url.Values{}
	f, fh, err := r.FormFile("archive")
	if err != nil {
		q.Set("error", "no archive received: "+err.Error())
		http.Redirect(w, r, Prefix+"/deploy?"+q.Encode(), http.StatusSeeOther)
		return
	}
	defer f.Close()
	user := principalOf(r).user
	msg, err := d.Upload(user, filepath.Base(fh.Filename), f, strings.TrimSpace(r.PostFormValue("name")),
		strings.TrimSpace(r.PostFormValue("version")), r.PostFormValue("message"))
	if err != nil {
		h.log.Warn("resin-admin: deployment refused", zap.String("user", user), zap.String("file", fh.Filename), zap.Error(err))
		q.Set("error", err.Error())
	} else {
		h.log.Info("resin-admin: deployed", zap.String("user", user), zap.String("file", fh.Filename), zap.String("result", msg))
		q.Set("deployed", msg)
	}
	http.Redirect(w, r, Prefix+"/deploy?"+q.Encode(), http.StatusSeeOther)
}

// short is the first 12 characters of a hash, for the page.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
