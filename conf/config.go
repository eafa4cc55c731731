// Package conf turns resin.xml (and the files it imports) into an immutable,
// validated *Config snapshot.
//
// A Config is plain data: once Load returns it, nothing in it changes, so it
// can be shared by every goroutine of a running server without locks. A new
// edit of resin.xml produces a new Config; the old one is dropped when the
// last request that used it has finished.
package conf

import (
	"regexp"
	"time"
)

// Config is one validated snapshot of resin.xml and everything it imports.
type Config struct {
	// File is the absolute path of the main configuration file.
	File string
	// Files lists every file read to build this snapshot (the main file
	// first, then imports in the order they were read); Watch watches them.
	Files []string

	Clusters []*Cluster

	// AdminUsers are the users of <resin:AdminAuthenticator>.
	AdminUsers []AdminUser
	// SystemKey is <resin-system-auth-key> (or <cluster-system-key>), "" when unset.
	SystemKey string

	// Warnings are the problems that did not stop the load: unknown
	// elements and attributes, ignored features. Each names file:line.
	Warnings []Diag
}

// Pos is where an element was written.
type Pos struct {
	File string
	Line int
}

// Cluster is a <cluster id>: its servers in document order and what they serve.
type Cluster struct {
	ID  string
	Pos Pos
	// Servers are in document order; a server's Index is its position here.
	// The first three are the triad.
	Servers []*Server
	// Hosts are the <host> elements, in document order, with <host-default>
	// already applied.
	Hosts []*Host
	// ProxyCache is the <proxy-cache> (or <cache>) of the cluster, nil when absent.
	ProxyCache *ProxyCache
}

// Server is one <server id address port>.
type Server struct {
	ID  string
	Pos Pos
	// ClusterID names the cluster the server belongs to.
	ClusterID string
	// Index is the server's position in its cluster (0 for the first).
	// It is the first character of the session ids it issues.
	Index int
	// Address and Port are the cluster port: the web tier load-balances to
	// it and cluster traffic uses it. Address defaults to 127.0.0.1, Port to
	// Resin's 6800; port 0 (tests) lets the system choose.
	Address string
	Port    int
	// HTTP are the public listeners (<http address port>), with
	// <server-default> applied.
	HTTP []Listener
	// Backup servers receive load-balanced requests only when no other
	// server of the cluster is available.
	Backup bool
	// Weight is load-balance-weight (default 100).
	Weight  int
	Timeout Timeouts
	// Limits bound what one client may ask (see limits.go).
	Limits Limits
}

// Listener is an <http address port>. Address "" or "*" means every address.
type Listener struct {
	Pos     Pos
	Address string
	Port    int
	// TLS is the listener's <openssl> or <jsse-ssl>; nil for plain HTTP.
	TLS *TLS
	// ConnectionMax is the <http>'s own connection-max; 0 uses the
	// server's.
	ConnectionMax int
}

// Timeouts are Resin's load-balance and socket timeouts, with Resin's
// defaults filled in by the loader. A zero duration means no limit (Resin's
// -1).
type Timeouts struct {
	LoadBalanceConnectTimeout  time.Duration // default 5s
	LoadBalanceIdleTime        time.Duration // default 5s
	LoadBalanceRecoverTime     time.Duration // default 15s
	LoadBalanceBusyRecoverTime time.Duration // default 1s
	LoadBalanceSocketTimeout   time.Duration // default 665s
	LoadBalanceWarmupTime      time.Duration // default 60s
	KeepaliveTimeout           time.Duration // default 15s
	SocketTimeout              time.Duration // default 65s
}

// DefaultTimeouts are Resin's defaults.
var DefaultTimeouts = Timeouts{
	LoadBalanceConnectTimeout:  5 * time.Second,
	LoadBalanceIdleTime:        5 * time.Second,
	LoadBalanceRecoverTime:     15 * time.Second,
	LoadBalanceBusyRecoverTime: 1 * time.Second,
	LoadBalanceSocketTimeout:   665 * time.Second,
	LoadBalanceWarmupTime:      60 * time.Second,
	KeepaliveTimeout:           15 * time.Second,
	SocketTimeout:              65 * time.Second,
}

// Host is a <host id> with its aliases, rules and web-apps.
type Host struct {
	// ID is the host name; "" is the default host, matching any name.
	ID      string
	Pos     Pos
	Aliases []string
	// RootDirectory is absolute; web-app roots are resolved against it.
	RootDirectory string
	// Rules are the rewrite rules written directly in <host>, in document
	// order; they match the whole request URI.
	Rules []*Rule
	// WebApps are in document order with <web-app-default> applied.
	WebApps []*WebApp
}

// WebApp is a <web-app id root-directory>.
type WebApp struct {
	// ID is the context path: "" (or "/") is the root web-app, "/foo" a prefix.
	// The loader normalises "/" to "".
	ID  string
	Pos Pos
	// RootDirectory is absolute.
	RootDirectory string
	// Rules match the URI after the context path, in document order.
	Rules []*Rule
	// Session is the <session-config>, nil when the web-app has none.
	Session *SessionConfig
	// Caches are its <resin:ClusterCache>s, in document order.
	Caches []*ClusterCache
}

// SessionConfig is <session-config>.
type SessionConfig struct {
	Pos Pos
	// CookieName is the session cookie (default JSESSIONID).
	CookieName string
	// Timeout is session-timeout (default 30m); 0 means sessions never
	// expire (Resin's -1).
	Timeout            time.Duration
	UsePersistentStore bool
	AlwaysSaveSession  bool
}

// ProxyCache is <proxy-cache> (Resin 3/4 also spell it <cache>).
type ProxyCache struct {
	Pos          Pos
	MemorySize   int64 // bytes, default 16M
	Entries      int   // default 8192
	MaxEntrySize int64 // bytes, default 1M
}

// AdminUser is a <resin:user name password> of <resin:AdminAuthenticator>.
// Password is as written: a hash unless PasswordDigest is "none".
type AdminUser struct {
	Pos            Pos
	Name           string
	Password       string
	PasswordDigest string // "none", "md5" (Resin's default), ...
	Disabled       bool
}

// RuleKind names what a rewrite rule does when it matches.
type RuleKind string

// The rewrite actions.
const (
	Dispatch         RuleKind = "Dispatch"
	LoadBalance      RuleKind = "LoadBalance"
	Forward          RuleKind = "Forward"
	Redirect         RuleKind = "Redirect"
	MovedPermanently RuleKind = "MovedPermanently"
	Forbidden        RuleKind = "Forbidden"
	NotFound         RuleKind = "NotFound"
	SetHeader        RuleKind = "SetHeader"
	HttpProxy        RuleKind = "HttpProxy"
	FastCgiProxy     RuleKind = "FastCgiProxy"
)

// Rule is one rewrite rule (<resin:Dispatch>, <resin:LoadBalance>, ...).
type Rule struct {
	Kind RuleKind
	Pos  Pos
	// Regexp is the rule's regexp as written; "" matches every URI.
	Regexp string
	// Match is Regexp compiled (never nil). It is matched unanchored, as Resin
	// does.
	Match *regexp.Regexp
	// Target is the Forward/Redirect/MovedPermanently target, with $1..$9
	// standing for the regexp's groups.
	Target string

	// LoadBalance: the cluster to balance to, the strategy ("adaptive" or
	// "round-robin"), sticky sessions (default true) and the session cookie
	// (default JSESSIONID).
	Cluster        string
	Strategy       string
	StickySessions bool
	SessionCookie  string

	// HttpProxy and FastCgiProxy: the backends.
	Backends []Backend
	// App is the program behind a FastCgiProxy or HttpProxy with a
	// command, or a CGI mapping (see apps.go); nil for a plain address.
	App *App

	// SetHeader: the header to set on the response.
	HeaderName  string
	HeaderValue string

	// Conditions must all hold for the rule to match (nil: always).
	Conditions []*Condition
}

// Backend is one address of <resin:HttpProxy> or <resin:FastCgiProxy>.
type Backend struct {
	Address string // host:port
	Weight  int    // default 100
	Backup  bool
}

// CondKind names a rewrite condition.
type CondKind string

// The rewrite conditions.
const (
	IfHeader  CondKind = "IfHeader"
	IfCookie  CondKind = "IfCookie"
	IfMethod  CondKind = "IfMethod"
	IfNetwork CondKind = "IfNetwork"
	IfSecure  CondKind = "IfSecure"
	And       CondKind = "And"
	Or        CondKind = "Or"
	Not       CondKind = "Not"
)

// Condition is a rewrite condition.
type Condition struct {
	Kind CondKind
	Pos  Pos
	// Name is the header or cookie name (IfHeader, IfCookie).
	Name string
	// Match is the compiled regexp the value must match (IfHeader, IfCookie);
	// nil means the header or cookie need only be present.
	Match *regexp.Regexp
	// Method is the method for IfMethod.
	Method string
	// Networks are the CIDRs of IfNetwork (a bare address is a /32 or /128).
	Networks []string
	// Value is IfSecure's value (default true).
	Value bool
	// Children are the conditions of And, Or and Not (Not negates the
	// conjunction of its children).
	Children []*Condition
}
