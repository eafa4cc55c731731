package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// Source is where a server finds the newest tags and the objects it lacks,
// and how it tells the others that its own tags moved. HTTPPeers carries
// it over authenticated HTTP between the servers' cluster ports; the
// triad's replicated store (package cluster) can take its place without
// the Service changing.
type Source interface {
	// Refs lists peer's tags and the commits they point at.
	Refs(ctx context.Context, peer string) (map[string]string, error)
	// Objects returns the objects want from peer.
	Objects(ctx context.Context, peer string, want []string) ([]Object, error)
	// Notify tells every other server that this one's tags moved.
	Notify(ctx context.Context)
	// Upstream lists the servers to pull from: the triad members other
	// than this server.
	Upstream() []string
}

// Object is a git object as carried between servers.
type Object struct {
	Hash string
	Kind string // "commit", "tree" or "blob"
	Data []byte
}

// Peer is another server of the cluster.
type Peer struct {
	ID      string
	Address string // host:port of its cluster port
	Triad   bool
}

// PeersOf lists the servers of self's cluster other than self; the first
// three servers in document order are the triad.
func PeersOf(cfg *conf.Config, self *conf.Server) []Peer {
	cl := cfg.Cluster(self.ClusterID)
	if cl == nil {
		return nil
	}
	var out []Peer
	for _, sv := range cl.Servers {
		if sv.ID == self.ID {
			continue
		}
		host := sv.Address
		if host == "" || host == "*" {
			host = "127.0.0.1"
		}
		out = append(out, Peer{ID: sv.ID, Address: joinHostPort(host, sv.Port), Triad: sv.Index < 3})
	}
	return out
}

func joinHostPort(h string, p int) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(p)
}

// ClusterSecret is the key servers of one configuration sign their
// requests to each other with: <resin-system-auth-key> when set, else a
// digest of the admin users (every server reads the same resin.xml). nil
// when there is neither: then nothing can be deployed or replicated.
func ClusterSecret(cfg *conf.Config) []byte {
	if cfg.SystemKey != "" {
		s := sha256.Sum256([]byte("resind-cluster\x00" + cfg.SystemKey))
		return s[:]
	}
	if len(cfg.AdminUsers) == 0 {
		return nil
	}
	users := append([]conf.AdminUser(nil), cfg.AdminUsers...)
	sort.Slice(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	h := sha256.New()
	h.Write([]byte("resind-cluster-users\x00"))
	for _, u := range users {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", u.Name, u.Password, u.PasswordDigest)
	}
	return h.Sum(nil)
}

// Headers of a signed cluster request.
const (
	hdrServer = "X-Resind-Server"
	hdrTime   = "X-Resind-Time"
	hdrSign   = "X-Resind-Signature"
)

// clockSkew bounds how old a signed request may be.
const clockSkew = 5 * time.Minute

func sign(secret []byte, method, path, server, ts string) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s\n%s\n%s\n%s", method, path, server, ts)
	return hex.EncodeToString(m.Sum(nil))
}

// signRequest adds the cluster signature to r.
func signRequest(secret []byte, server string, r *http.Request) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	r.Header.Set(hdrServer, server)
	r.Header.Set(hdrTime, ts)
	r.Header.Set(hdrSign, sign(secret, r.Method, r.URL.Path, server, ts))
}

// verifyRequest checks r's cluster signature and returns the signing
// server's id.
func verifyRequest(secret []byte, r *http.Request) (string, error) {
	if secret == nil {
		return "", errors.New("no <resin-system-auth-key> and no admin users: cluster deployment is off")
	}
	server, ts, sig := r.Header.Get(hdrServer), r.Header.Get(hdrTime), r.Header.Get(hdrSign)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || server == "" {
		return "", errors.New("unsigned cluster request")
	}
	if d := time.Since(time.Unix(sec, 0)); d > clockSkew || d < -clockSkew {
		return "", errors.New("cluster request signed too long ago (clocks apart?)")
	}
	if !hmac.Equal([]byte(sig), []byte(sign(secret, r.Method, r.URL.Path, server, ts))) {
		return "", errors.New("bad cluster signature")
	}
	return server, nil
}

// HTTPPeers is the Source over the other servers' cluster ports.
type HTTPPeers struct {
	Self   string
	Client *http.Client
	Log    *zap.Logger

	mu     sync.RWMutex
	peers  map[string]Peer
	order  []string
	secret []byte
}

// NewHTTPPeers returns the Source for self reaching peers.
func NewHTTPPeers(self string, peers []Peer, secret []byte, log *zap.Logger) *HTTPPeers {
	h := &HTTPPeers{Self: self, Client: &http.Client{Timeout: 60 * time.Second}, Log: log}
	h.Set(peers, secret)
	return h
}

// Set replaces the peers and the secret after a configuration reload.
func (h *HTTPPeers) Set(peers []Peer, secret []byte) {
	m := map[string]Peer{}
	var order []string
	for _, p := range peers {
		m[p.ID] = p
		order = append(order, p.ID)
	}
	h.mu.Lock()
	h.peers, h.order, h.secret = m, order, secret
	h.mu.Unlock()
}

// Peers lists the peers, triad first when triadOnly is false.
func (h *HTTPPeers) Peers(triadOnly bool) []Peer {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []Peer
	for _, id := range h.order {
		if p := h.peers[id]; !triadOnly || p.Triad {
			out = append(out, p)
		}
	}
	return out
}

func (h *HTTPPeers) do(ctx context.Context, peer, method, path string, body []byte) (*http.Response, error) {
	h.mu.RLock()
	p, ok := h.peers[peer]
	secret := h.secret
	h.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("no server %q in this cluster", peer)
	}
	if secret == nil {
		return nil, errors.New("cluster deployment is off (no <resin-system-auth-key> and no admin users)")
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+p.Address+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	signRequest(secret, h.Self, req)
	resp, err := h.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", peer, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// Upstream implements Source.
func (h *HTTPPeers) Upstream() []string {
	var out []string
	for _, p := range h.Peers(true) {
		out = append(out, p.ID)
	}
	return out
}

// Refs implements Source.
func (h *HTTPPeers) Refs(ctx context.Context, peer string) (map[string]string, error) {
	resp, err := h.do(ctx, peer, http.MethodGet, PathPrefix+"/cluster/refs", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var refs map[string]string
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&refs); err != nil {
		return nil, fmt.Errorf("%s refs: %w", peer, err)
	}
	return refs, nil
}

// Objects implements Source.
func (h *HTTPPeers) Objects(ctx context.Context, peer string, want []string) ([]Object, error) {
	body, _ := json.Marshal(map[string][]string{"want": want})
	resp, err := h.do(ctx, peer, http.MethodPost, PathPrefix+"/cluster/objects", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readObjects(bufio.NewReader(resp.Body), len(want))
}

// Notify implements Source: every peer is told, in parallel, and asked to
// pull; those that are down catch up when they start.
func (h *HTTPPeers) Notify(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range h.Peers(false) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.do(ctx, p.ID, http.MethodPost, PathPrefix+"/cluster/notify", nil)
			if err != nil {
				h.Log.Debug("deploy: notify", zap.String("peer", p.ID), zap.Error(err))
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
}

// writeObject writes "hash kind size\n" and the data.
func writeObject(w io.Writer, o Object) error {
	if _, err := fmt.Fprintf(w, "%s %s %d\n", o.Hash, o.Kind, len(o.Data)); err != nil {
		return err
	}
	_, err := w.Write(o.Data)
	return err
}

// maxObject bounds one object read from the wire.
const maxObject = 1 << 30

// readObject reads one object written by writeObject; io.EOF after the
// last.
func readObject(r *bufio.Reader) (Object, error) {
	line, err := r.ReadString('\n')
	if errors.Is(err, io.EOF) && line == "" {
		return Object{}, io.EOF
	}
	if err != nil {
		return Object{}, fmt.Errorf("object stream: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		return Object{}, fmt.Errorf("object stream: bad header %q", strings.TrimSpace(line))
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || n < 0 || n > maxObject {
		return Object{}, fmt.Errorf("object stream: bad size %q", f[2])
	}
	// Grown as the data arrives, so a size that lies costs nothing.
	var data bytes.Buffer
	if m, err := io.CopyN(&data, r, int64(n)); err != nil {
		return Object{}, fmt.Errorf("object stream: %s: %d of %d bytes: %w", f[0], m, n, err)
	}
	return Object{Hash: f[0], Kind: f[1], Data: data.Bytes()}, nil
}

// readObjects reads up to max objects written by writeObject.
func readObjects(r *bufio.Reader, max int) ([]Object, error) {
	var out []Object
	for {
		o, err := readObject(r)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(out) >= max {
			return nil, errors.New("object stream: more objects than asked for")
		}
		out = append(out, o)
	}
}
