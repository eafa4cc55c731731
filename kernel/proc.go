// Package kernel is the user-space side of HardCore, the kernel fast path
// (kernel/hardcore builds resin.ko): it reads and writes the module's
// /proc/net/resin files so that the module balances over the healthy
// servers of a cluster.
package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DefaultDir is where resin.ko puts its files.
const DefaultDir = "/proc/net/resin"

// MaxSruns is how many srun-N files the module has (srun-0 … srun-15).
const MaxSruns = 16

// maxOwnerIndex is the largest cluster index a session id prefix encodes.
const maxOwnerIndex = 64*64*64 - 1

// Srun is one app-tier server as the module knows it: the address of its
// cluster port, and its index in its cluster, which session ids it issued
// name (see proxy.OwnerIndex).
type Srun struct {
	Addr  netip.AddrPort
	Index int
	// ID is the server id, "" for none. The module hashes it to choose the
	// backup of a session whose owner is gone, as proxy's balancer does,
	// so both pick the same server.
	ID string
}

// maxIDLen is the longest server id the module takes.
const maxIDLen = 32

// String is the line the module reads: "IP PORT INDEX [ID]".
func (s Srun) String() string {
	line := fmt.Sprintf("%s %d %d", s.Addr.Addr(), s.Addr.Port(), s.Index)
	if s.ID != "" {
		line += " " + s.ID
	}
	return line
}

// usableID reports whether the module takes id: 1 to 32 printable ASCII
// characters, no space.
func usableID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '!' || id[i] > '~' {
			return false
		}
	}
	return true
}

// ParseSrun parses a line of an srun-N file: "IP PORT", "IP PORT INDEX"
// (the index defaults to def) or "IP PORT INDEX ID". It accepts what the
// module accepts: an IPv4 address other than 0.0.0.0, 255.255.255.255 and
// multicast, a port from 1 to 65535, an index from 0 to 262143, and an id
// of up to 32 printable characters.
func ParseSrun(line string, def int) (Srun, error) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f) > 4 {
		return Srun{}, fmt.Errorf("srun %q: want \"IP PORT [INDEX [ID]]\"", line)
	}
	ip, err := netip.ParseAddr(f[0])
	if err != nil || !ip.Is4() || ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return Srun{}, fmt.Errorf("srun %q: %q is not a usable IPv4 address", line, f[0])
	}
	port, err := strconv.ParseUint(f[1], 10, 16)
	if err != nil || port == 0 {
		return Srun{}, fmt.Errorf("srun %q: %q is not a port", line, f[1])
	}
	idx, id := def, ""
	if len(f) == 4 {
		if id = f[3]; !usableID(id) {
			return Srun{}, fmt.Errorf("srun %q: %q is not a server id the module takes", line, id)
		}
	}
	if len(f) >= 3 {
		idx, err = strconv.Atoi(f[2])
		if err != nil || idx < 0 || idx > maxOwnerIndex {
			return Srun{}, fmt.Errorf("srun %q: %q is not a cluster index", line, f[2])
		}
	}
	return Srun{Addr: netip.AddrPortFrom(ip, uint16(port)), Index: idx, ID: id}, nil
}

// Proc is the module's directory, /proc/net/resin.
type Proc struct{ dir string }

// Open returns the module's files in dir ("" for DefaultDir). The error
// wraps os.ErrNotExist when the module is not loaded.
func Open(dir string) (*Proc, error) {
	if dir == "" {
		dir = DefaultDir
	}
	if _, err := os.Stat(filepath.Join(dir, "server_port")); err != nil {
		return nil, fmt.Errorf("hardcore: %w", err)
	}
	return &Proc{dir: dir}, nil
}

// Dir is the directory of the files.
func (p *Proc) Dir() string { return p.dir }

func (p *Proc) readInt(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", filepath.Join(p.dir, name), b)
	}
	return n, nil
}

// ServerPort is the port the module listens on.
func (p *Proc) ServerPort() (int, error) { return p.readInt("server_port") }

// Sruns reads the servers the module balances over.
func (p *Proc) Sruns() ([]Srun, error) {
	n, err := p.readInt("srun-count")
	if err != nil {
		return nil, err
	}
	if n < 0 || n > MaxSruns {
		return nil, fmt.Errorf("srun-count %d is out of range", n)
	}
	out := make([]Srun, 0, n)
	for i := range n {
		b, err := os.ReadFile(filepath.Join(p.dir, "srun-"+strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		s, err := ParseSrun(string(b), i)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ErrTooMany is returned by SetSruns for more than MaxSruns servers.
var ErrTooMany = errors.New("hardcore: more servers than srun files")

// SetSruns makes sruns the servers the module balances over. The module
// only accepts a count that covers filled slots, so a shrinking list
// lowers the count first and a growing one fills the slots first; at no
// point does the module see a slot that is not a server of either list.
func (p *Proc) SetSruns(sruns []Srun) error {
	if len(sruns) > MaxSruns {
		return ErrTooMany
	}
	old, err := p.readInt("srun-count")
	if err != nil {
		return err
	}
	count := func() error { return p.write("srun-count", strconv.Itoa(len(sruns))) }
	if len(sruns) < old {
		if err := count(); err != nil {
			return err
		}
	}
	for i, s := range sruns {
		if err := p.write("srun-"+strconv.Itoa(i), s.String()); err != nil {
			return err
		}
	}
	if len(sruns) >= old {
		return count()
	}
	return nil
}

// write writes one line in one write(2), as the module wants it.
func (p *Proc) write(name, line string) error {
	f, err := os.OpenFile(filepath.Join(p.dir, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(line + "\n"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("hardcore: write %q to %s: %w", line, name, err)
	}
	return nil
}

// Equal reports whether two srun lists are the same, in order.
func Equal(a, b []Srun) bool { return slices.Equal(a, b) }
