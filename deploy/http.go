package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// PathPrefix is where the deployment API is mounted on every listener.
const PathPrefix = "/resin-deploy"

// Handler serves the deployment API:
//
// For `resind deploy` and friends, authenticated with HTTP Basic as an
// admin user of <resin:AdminAuthenticator> (and refused when there is
// none):
//
//	POST /resin-deploy/missing   {"blobs":[hash...]} → {"missing":[hash...]}
//	POST /resin-deploy/blobs     "hash blob size\n" + data, repeated; each hash checked
//	POST /resin-deploy/deploy    Request → Commit
//	POST /resin-deploy/undeploy  {"tag":...} → Commit
//	POST /resin-deploy/copy      {"from":..., "to":..., "version":..., "to_version":...} → Commit
//	POST /resin-deploy/restart   {"tag":...}
//	GET  /resin-deploy/list      → [TagInfo]
//	GET  /resin-deploy/status    → this server's [Status]
//
// For the other servers of the cluster, signed with the cluster secret:
//
//	GET  /resin-deploy/cluster/refs     → {"tag": commit}
//	POST /resin-deploy/cluster/objects  {"want":[hash...]} → objects
//	POST /resin-deploy/cluster/notify   a peer deployed: pull now
//	GET  /resin-deploy/cluster/status   → this server's [Status]
type Handler struct {
	svc   *Service
	rep   *Replicator
	log   *zap.Logger
	check CheckFunc

	users  atomic.Pointer[[]conf.AdminUser]
	secret atomic.Pointer[[]byte]
	mux    *http.ServeMux
}

// CheckFunc tells whether r may act as user with password, one of users,
// as /resin-admin checks them (admin.Checker.Check); retry > 0 refuses a
// client that failed too often lately.
type CheckFunc func(r *http.Request, users []conf.AdminUser, user, password string) (ok bool, retry time.Duration)

// NewHandler serves svc's API; rep (nil for none) is told of deployments
// and of peers' notifications.
func NewHandler(svc *Service, rep *Replicator, check CheckFunc, log *zap.Logger) *Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{svc: svc, rep: rep, check: check, log: log}
	h.SetAuth(nil, nil)
	m := http.NewServeMux()
	m.HandleFunc("POST "+PathPrefix+"/missing", h.client(h.missing))
	m.HandleFunc("POST "+PathPrefix+"/blobs", h.client(h.blobs))
	m.HandleFunc("POST "+PathPrefix+"/deploy", h.client(h.deploy))
	m.HandleFunc("POST "+PathPrefix+"/undeploy", h.client(h.undeploy))
	m.HandleFunc("POST "+PathPrefix+"/copy", h.client(h.copy))
	m.HandleFunc("POST "+PathPrefix+"/restart", h.client(h.restart))
	m.HandleFunc("GET "+PathPrefix+"/list", h.client(h.list))
	m.HandleFunc("GET "+PathPrefix+"/status", h.client(h.status))
	m.HandleFunc("GET "+PathPrefix+"/cluster/refs", h.cluster(h.refs))
	m.HandleFunc("POST "+PathPrefix+"/cluster/objects", h.cluster(h.objects))
	m.HandleFunc("POST "+PathPrefix+"/cluster/notify", h.cluster(h.notify))
	m.HandleFunc("GET "+PathPrefix+"/cluster/status", h.cluster(h.status))
	h.mux = m
	return h
}

// SetAuth replaces the admin users and the cluster secret (after a
// configuration reload).
func (h *Handler) SetAuth(users []conf.AdminUser, secret []byte) {
	h.users.Store(&users)
	h.secret.Store(&secret)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// client wraps an endpoint for `resind deploy`: admin users only.
func (h *Handler) client(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		users := *h.users.Load()
		if len(users) == 0 {
			http.Error(w, "remote deployment is off: resin.xml has no <resin:AdminAuthenticator> users", http.StatusForbidden)
			return
		}
		user, pass, ok := r.BasicAuth()
		if ok {
			var retry time.Duration
			ok, retry = h.check(r, users, user, pass)
			if retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
				http.Error(w, "too many failed logins from your address; try again later", http.StatusTooManyRequests)
				return
			}
		}
		if !ok {
			h.log.Warn("deploy: authentication failed", zap.String("user", user), zap.String("client", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Basic realm="resin", charset="UTF-8"`)
			http.Error(w, "wrong user name or password", http.StatusUnauthorized)
			return
		}
		next(w, r, user)
	}
}

// cluster wraps an endpoint for the other servers: signed requests only.
func (h *Handler) cluster(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		peer, err := verifyRequest(*h.secret.Load(), r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		next(w, r, peer)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func readJSON(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, 256<<20)).Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	return nil
}

func (h *Handler) missing(w http.ResponseWriter, r *http.Request, _ string) {
	var req struct {
		Blobs []string `json:"blobs"`
	}
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	missing := []string{}
	for _, b := range req.Blobs {
		if !h.svc.repo.Has(b) {
			missing = append(missing, b)
		}
	}
	writeJSON(w, map[string][]string{"missing": missing})
}

// blobs stores uploaded blobs, each checked against its hash: one whose
// content does not match is refused, and so is the rest of the upload.
func (h *Handler) blobs(w http.ResponseWriter, r *http.Request, _ string) {
	lim := h.svc.opts.Limits
	// One upload holds at most one deployment's files, with their headers.
	br := bufio.NewReader(http.MaxBytesReader(w, r.Body, lim.MaxBytes+int64(lim.MaxFiles)*128))
	n := 0
	for ; ; n++ {
		o, err := readObject(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if n >= lim.MaxFiles {
			http.Error(w, fmt.Sprintf("more than the limit of %d files", lim.MaxFiles), http.StatusBadRequest)
			return
		}
		if o.Kind != "blob" {
			http.Error(w, fmt.Sprintf("object %s: only blobs may be uploaded", o.Hash), http.StatusBadRequest)
			return
		}
		if err := h.svc.repo.Put(o.Hash, o.Kind, o.Data); err != nil {
			h.log.Warn("deploy: upload refused", zap.Error(err))
			http.Error(w, "upload refused: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	writeJSON(w, map[string]int{"stored": n})
}

func (h *Handler) answer(w http.ResponseWriter, c Commit, err error) {
	if err != nil {
		code := http.StatusBadRequest
		var ae *ArchiveError
		if !errors.As(err, &ae) && strings.Contains(err.Error(), "came first") {
			code = http.StatusConflict
		}
		http.Error(w, err.Error(), code)
		return
	}
	if h.rep != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		go func() { defer cancel(); h.rep.Notify(ctx) }()
	}
	writeJSON(w, c)
}

func (h *Handler) deploy(w http.ResponseWriter, r *http.Request, user string) {
	var req Request
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.User = user
	c, err := h.svc.Deploy(req)
	if err == nil {
		h.log.Info("deploy: deployed", zap.String("tag", req.Tag.String()), zap.String("version", c.Version),
			zap.String("tree", c.Tree), zap.String("user", user))
	}
	h.answer(w, c, err)
}

type tagRequest struct {
	Tag     Tag    `json:"tag"`
	Message string `json:"message,omitempty"`
}

func (h *Handler) undeploy(w http.ResponseWriter, r *http.Request, user string) {
	var req tagRequest
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c, err := h.svc.Undeploy(req.Tag, user, req.Message)
	h.answer(w, c, err)
}

// CopyRequest is the body of POST /resin-deploy/copy.
type CopyRequest struct {
	From      Tag    `json:"from"`
	Version   string `json:"version,omitempty"`
	To        Tag    `json:"to"`
	ToVersion string `json:"to_version,omitempty"`
	Message   string `json:"message,omitempty"`
}

func (h *Handler) copy(w http.ResponseWriter, r *http.Request, user string) {
	var req CopyRequest
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c, err := h.svc.Copy(req.From, req.Version, req.To, req.ToVersion, user, req.Message)
	h.answer(w, c, err)
}

func (h *Handler) restart(w http.ResponseWriter, r *http.Request, _ string) {
	var req tagRequest
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := h.svc.Restart(req.Tag); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]string{"restarted": req.Tag.String()})
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, _ string) {
	tags, err := h.svc.List()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, tags)
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request, _ string) {
	writeJSON(w, h.svc.Served())
}

func (h *Handler) refs(w http.ResponseWriter, r *http.Request, _ string) {
	refs, err := h.svc.repo.Refs()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, refs)
}

func (h *Handler) objects(w http.ResponseWriter, r *http.Request, _ string) {
	var req struct {
		Want []string `json:"want"`
	}
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(req.Want) > 4096 {
		http.Error(w, "too many objects in one request", http.StatusBadRequest)
		return
	}
	// Check every object exists before the first byte, so a missing one is
	// an error status rather than a cut stream.
	objs := make([]Object, 0, len(req.Want))
	for _, hash := range req.Want {
		kind, data, err := h.svc.repo.Raw(hash)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		objs = append(objs, Object{Hash: hash, Kind: kind, Data: data})
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	bw := bufio.NewWriter(w)
	for _, o := range objs {
		if err := writeObject(bw, o); err != nil {
			return
		}
	}
	bw.Flush()
}

func (h *Handler) notify(w http.ResponseWriter, r *http.Request, peer string) {
	if h.rep != nil {
		h.rep.Kick(peer)
	}
	writeJSON(w, map[string]bool{"ok": true})
}
