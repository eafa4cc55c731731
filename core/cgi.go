package core

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log"
	"net/http"
	"net/http/cgi"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"resind/app"
	"resind/proxy/fastcgi"
)

// serveCGI runs the CGI script that rel names below the web-app's root
// with net/http/cgi, as Resin's CGIServlet does: for "*.cgi" the script is
// the path itself; for "/cgi-bin/*" it is the first file along the path
// after the prefix, and the rest is PATH_INFO.
//
// A script gets the rule's timeout and max-output: past either it is
// killed, with every process it started, and the client gets 504 (or a
// cut-off answer when the header was already sent). A script that fails
// before its header (cannot run, exits, writes no Content-Type) is a 502.
// Its stderr goes to resind's log.
func (x *exchange) serveCGI(a *appRule, r *http.Request, ctx, root, rel string) {
	w := x.w
	if root == "" {
		notFound(w)
		return
	}
	scriptRel, ok := findScript(root, rel, a.cfg.Prefix)
	if !ok {
		notFound(w)
		return
	}
	file := filepath.Join(root, filepath.FromSlash(scriptRel))
	if fi, err := os.Stat(file); err != nil || fi.Mode()&0o111 == 0 {
		writePage(w, http.StatusForbidden, "The CGI script is not executable.")
		return
	}
	marker := newMarker()
	stderr, flush := app.StderrLog(x.s.log, file)
	defer flush()
	var hostErr lockedBuffer
	h := &cgi.Handler{
		Path: file,
		Root: ctx + scriptRel,
		Dir:  filepath.Dir(file),
		// The marker finds the script and its children to kill them.
		Env:    []string{cgiMarker + "=" + marker, "DOCUMENT_ROOT=" + root},
		Stderr: stderr,
		Logger: log.New(&hostErr, "", 0),
	}
	lw := &cgiWriter{ResponseWriter: w, max: a.cfg.MaxOutput, hostErr: &hostErr}
	var timer *time.Timer
	if a.timeout > 0 {
		timer = time.AfterFunc(a.timeout, func() {
			lw.timedOut.Store(true)
			killMarked(marker)
		})
	}
	h.ServeHTTP(lw, r)
	if timer != nil {
		timer.Stop()
	}
	lw.settle()
	timedOut := lw.timedOut.Load()
	if timedOut || lw.over || r.Context().Err() != nil {
		killMarked(marker) // what it left behind
	}
	switch {
	case r.Context().Err() != nil:
	case timedOut && !lw.wrote:
		x.s.log.Warn("CGI script timed out", zap.String("script", file), zap.Duration("timeout", a.timeout))
		fastcgi.ErrorPage(w, http.StatusGatewayTimeout, "No answer in time from the CGI script", ctx+scriptRel)
	case timedOut || lw.over:
		x.s.log.Warn("CGI script cut off", zap.String("script", file), zap.Bool("timed_out", timedOut),
			zap.Int64("max_output", a.cfg.MaxOutput))
		panic(http.ErrAbortHandler) // do not end the answer as if it were complete
	case lw.failed:
		msg := strings.TrimSpace(hostErr.String())
		x.s.log.Warn("CGI script failed", zap.String("script", file), zap.String("error", msg))
		fastcgi.ErrorPage(w, http.StatusBadGateway, "The CGI script failed ("+msg+"):", ctx+scriptRel)
	}
}

// findScript returns the script's path relative to root: rel itself, or
// for a prefix mapping the first regular file along rel after the prefix.
func findScript(root, rel, prefix string) (string, bool) {
	if prefix == "" {
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
		return rel, err == nil && fi.Mode().IsRegular()
	}
	i := len(prefix) + 1
	for i <= len(rel) {
		j := strings.IndexByte(rel[i:], '/')
		end := len(rel)
		if j >= 0 {
			end = i + j
		}
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel[:end])))
		if err != nil {
			return "", false
		}
		if fi.Mode().IsRegular() {
			return rel[:end], true
		}
		i = end + 1
	}
	return "", false
}

// cgiWriter enforces max-output and turns net/http/cgi's own 500 (it
// answers 500 when the script fails before its header, and logs why) into
// resind's 502 page.
type cgiWriter struct {
	http.ResponseWriter
	max      int64
	n        int64
	hostErr  *lockedBuffer
	timedOut atomic.Bool

	pending bool // a 500 held back until it is known whose it is
	wrote   bool // a status went to the client
	failed  bool // the host failed the script: answer 502
	over    bool
}

func (cw *cgiWriter) WriteHeader(code int) {
	if cw.wrote || cw.pending {
		return
	}
	if code == http.StatusInternalServerError {
		// net/http/cgi writes its 500 before it logs the reason; whose
		// 500 it is shows when the host returns (settle).
		cw.pending = true
		return
	}
	cw.wrote = true
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *cgiWriter) Write(b []byte) (int, error) {
	if cw.pending {
		// A body: the script's own 500.
		cw.pending = false
		cw.wrote = true
		cw.ResponseWriter.WriteHeader(http.StatusInternalServerError)
	}
	cw.wrote = true
	if cw.max > 0 && cw.n+int64(len(b)) > cw.max {
		cw.over = true
		return 0, errors.New("max-output reached")
	}
	cw.n += int64(len(b))
	return cw.ResponseWriter.Write(b)
}

func (cw *cgiWriter) Flush() {
	if f, ok := cw.ResponseWriter.(http.Flusher); ok && cw.wrote {
		f.Flush()
	}
}

// settle decides a held-back 500 once the host has returned: the host's
// failure when it logged one, else the script's own empty 500.
func (cw *cgiWriter) settle() {
	if !cw.pending {
		return
	}
	cw.pending = false
	if cw.timedOut.Load() {
		return // serveCGI answers 504
	}
	if cw.hostErr.Len() > 0 {
		cw.failed = true
		return
	}
	cw.wrote = true
	cw.ResponseWriter.WriteHeader(http.StatusInternalServerError)
}

// lockedBuffer collects net/http/cgi's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cgiMarker is the environment variable that tags the processes of one
// CGI run.
const cgiMarker = "RESIND_CGI_RUN"

func newMarker() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// killMarked kills every process whose environment carries the marker: a
// script and whatever it started, which net/http/cgi alone would leave
// running. It looks a few times, for processes forked meanwhile.
func killMarked(marker string) {
	needle := []byte(cgiMarker + "=" + marker + "\x00")
	self := os.Getpid()
	for range 3 {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		found := false
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
			if err != nil || !bytes.Contains(env, needle) {
				continue
			}
			syscall.Kill(pid, syscall.SIGKILL)
			found = true
		}
		if !found {
			return
		}
	}
}
