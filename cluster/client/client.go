// Package client is the Go client of a resind server's session and cache
// APIs, served on its cluster port: an application behind resind reads and
// writes the attributes of the session resind names in X-Resin-Session-Id,
// and uses the cluster's named caches.
//
//	c := client.New("http://127.0.0.1:6800", "")   // the app-tier server beside the app
//	attrs, err := c.Session(ctx, r.Header.Get("X-Resin-Session-Id"))
//	err = c.SaveSession(ctx, id, map[string]any{"user": "ann"})
//	v, ver, err := c.Cache("prices").Get(ctx, "sku-1")
//
// Callers on loopback need no key; others pass the <resin-system-auth-key>
// and every request is signed.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"resind/cluster"
)

// ErrNotFound is returned for a session or cache key that does not exist.
var ErrNotFound = errors.New("not found")

// Client talks to one resind server's cluster port.
type Client struct {
	base string
	auth *cluster.Auth
	// HTTP is the client used; its zero value is a client with a 30 s
	// timeout.
	HTTP *http.Client
	// Name is the caller's name in signed requests (default "client").
	Name string
}

// New returns a client of the cluster port at base (http://host:port),
// signing with systemKey when it is not "".
func New(base, systemKey string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), auth: cluster.NewAuth(systemKey),
		HTTP: &http.Client{Timeout: 30 * time.Second}, Name: "client"}
}

func (c *Client) do(ctx context.Context, method, path string, hdr http.Header, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c.auth.Sign(req, c.Name, body)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return resp, b, ErrNotFound
	case resp.StatusCode >= 400 && resp.StatusCode != http.StatusPreconditionFailed:
		return resp, b, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, b, nil
}

// Session returns the attributes of session id; ErrNotFound when it does
// not exist (or expired). Reading renews the session's timeout.
func (c *Client) Session(ctx context.Context, id string) (map[string]any, error) {
	_, b, err := c.do(ctx, http.MethodGet, cluster.SessionPath+url.PathEscape(id), nil, nil)
	if err != nil {
		return nil, err
	}
	var attrs map[string]any
	if err := json.Unmarshal(b, &attrs); err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	return attrs, nil
}

// SaveSession replaces the attributes of session id, creating it.
func (c *Client) SaveSession(ctx context.Context, id string, attrs map[string]any) error {
	b, err := json.Marshal(attrs)
	if err != nil {
		return err
	}
	_, _, err = c.do(ctx, http.MethodPut, cluster.SessionPath+url.PathEscape(id), http.Header{"Content-Type": {"application/json"}}, b)
	return err
}

// InvalidateSession removes session id.
func (c *Client) InvalidateSession(ctx context.Context, id string) error {
	_, _, err := c.do(ctx, http.MethodDelete, cluster.SessionPath+url.PathEscape(id), nil, nil)
	return err
}

// Cache is one named cache (<resin:ClusterCache name>). Values carry a
// version: the last write wins, and conditional writes name what they
// expect.
type Cache struct {
	c    *Client
	name string
}

// Cache returns the named cache.
func (c *Client) Cache(name string) *Cache { return &Cache{c: c, name: name} }

func (k *Cache) path(key string) string {
	return cluster.CachePath + url.PathEscape(k.name) + "/" + url.PathEscape(key)
}

func version(resp *http.Response) uint64 {
	v, _ := strconv.ParseUint(resp.Header.Get(cluster.HeaderVersion), 10, 64)
	return v
}

// Get returns key's value and version; ErrNotFound when absent.
func (k *Cache) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	resp, b, err := k.c.do(ctx, http.MethodGet, k.path(key), nil, nil)
	if err != nil {
		return nil, 0, err
	}
	return b, version(resp), nil
}

func (k *Cache) put(ctx context.Context, key string, value []byte, ttl time.Duration, hdr http.Header) (uint64, bool, error) {
	p := k.path(key)
	if ttl > 0 {
		p += "?ttl=" + ttl.String()
	}
	resp, _, err := k.c.do(ctx, http.MethodPut, p, hdr, value)
	if errors.Is(err, ErrNotFound) {
		return 0, false, err
	}
	if err != nil {
		return 0, false, err
	}
	return version(resp), resp.StatusCode != http.StatusPreconditionFailed, nil
}

// Put sets key (ttl > 0 makes it expire) and returns the new version.
func (k *Cache) Put(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	v, _, err := k.put(ctx, key, value, ttl, nil)
	return v, err
}

// PutIfAbsent sets key only when absent; false (and the present version)
// when it was there.
func (k *Cache) PutIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, bool, error) {
	return k.put(ctx, key, value, ttl, http.Header{"If-None-Match": {"*"}})
}

// Replace sets key only when present.
func (k *Cache) Replace(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, bool, error) {
	return k.put(ctx, key, value, ttl, http.Header{"If-Match": {"*"}})
}

// ReplaceVersion sets key only when its version is still version.
func (k *Cache) ReplaceVersion(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (uint64, bool, error) {
	return k.put(ctx, key, value, ttl, http.Header{"If-Match": {`"` + strconv.FormatUint(version, 10) + `"`}})
}

// Remove deletes key; false when it was absent.
func (k *Cache) Remove(ctx context.Context, key string) (bool, error) {
	_, _, err := k.c.do(ctx, http.MethodDelete, k.path(key), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
