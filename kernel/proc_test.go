package kernel

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeDir lays out the module's files as plain files, for the Go side's
// own tests; the module itself is tested in qemu (qemutest).
func fakeDir(t *testing.T, port int) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("server_port", strconv.Itoa(port)+"\n")
	write("srun-count", "0\n")
	for i := range MaxSruns {
		write("srun-"+strconv.Itoa(i), "")
	}
	return dir
}

func TestParseSrunAcceptsWhatTheModuleAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		ok   bool
		want string
	}{
		{"127.0.0.1 6800", true, "127.0.0.1 6800 3"},
		{"10.0.0.2 80 7\n", true, "10.0.0.2 80 7"},
		{"  192.168.1.1   8080   262143 ", true, "192.168.1.1 8080 262143"},
		{"", false, ""},
		{"127.0.0.1", false, ""},
		{"127.0.0.1 0", false, ""},
		{"127.0.0.1 65536", false, ""},
		{"127.0.0.1 -1", false, ""},
		{"0.0.0.0 80", false, ""},
		{"255.255.255.255 80", false, ""},
		{"224.0.0.1 80", false, ""},
		{"::1 80", false, ""},
		{"localhost 80", false, ""},
		{"127.0.0.1 80 262144", false, ""},
		{"127.0.0.1 80 1 app-a", true, "127.0.0.1 80 1 app-a"},
		{"127.0.0.1 80 1 " + strings.Repeat("x", 33), false, ""},
		{"127.0.0.1 80 1 a b", false, ""},
	} {
		s, err := ParseSrun(tc.line, 3)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSrun(%q) error = %v, want ok=%v", tc.line, err, tc.ok)
			continue
		}
		if tc.ok && s.String() != tc.want {
			t.Errorf("ParseSrun(%q) = %q, want %q", tc.line, s, tc.want)
		}
	}
}

func FuzzParseSrun(f *testing.F) {
	for _, s := range []string{"127.0.0.1 6800 1", "1.2.3.4 1", "0.0.0.0 0", "a b c d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseSrun(line, 0)
		if err != nil {
			return
		}
		again, err := ParseSrun(s.String(), 0)
		if err != nil || again != s {
			t.Fatalf("%q parsed to %v, which does not round-trip: %v %v", line, s, again, err)
		}
	})
}

func TestSetSrunsGrowsAndShrinks(t *testing.T) {
	t.Parallel()
	dir := fakeDir(t, 80)
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if port, err := p.ServerPort(); err != nil || port != 80 {
		t.Fatalf("ServerPort = %d, %v", port, err)
	}
	a := Srun{Addr: netip.MustParseAddrPort("127.0.0.1:6800"), Index: 0}
	b := Srun{Addr: netip.MustParseAddrPort("127.0.0.1:6801"), Index: 1}
	for _, want := range [][]Srun{{a, b}, {b}, {}, {a}} {
		if err := p.SetSruns(want); err != nil {
			t.Fatal(err)
		}
		got, err := p.Sruns()
		if err != nil || !Equal(got, want) {
			t.Fatalf("Sruns = %v, %v; want %v", got, err, want)
		}
	}
	if err := p.SetSruns(make([]Srun, MaxSruns+1)); err != ErrTooMany {
		t.Fatalf("17 sruns: %v", err)
	}
}

func TestOpenWithoutTheModule(t *testing.T) {
	t.Parallel()
	if _, err := Open(filepath.Join(t.TempDir(), "resin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open = %v, want not-exist", err)
	}
}

func TestKeeperListsOnlyServersThatAnswer(t *testing.T) {
	t.Parallel()
	p, err := Open(fakeDir(t, 80))
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := netip.MustParseAddrPort(down.Addr().String())
	down.Close() // nothing answers there now
	upAddr := netip.MustParseAddrPort(up.Addr().String())

	k := NewKeeper(p, nil)
	k.SetMembers([]Member{
		{ID: "app-a", Addr: downAddr, Index: 0},
		{ID: "app-b", Addr: upAddr, Index: 1},
		{ID: "app-c", Addr: downAddr, Index: 2, Backup: true},
	})
	k.Sync(context.Background())
	got, err := p.Sruns()
	want := []Srun{{Addr: upAddr, Index: 1, ID: "app-b"}}
	if err != nil || !Equal(got, want) {
		t.Fatalf("sruns = %v, %v; want %v", got, err, want)
	}
	if st := k.Status(); st.Rewrites != 1 || st.Port != 80 {
		t.Fatalf("status = %+v", st)
	}

	// The balancer holding app-b down takes it out as well.
	k.Usable = func(m Member) bool { return m.ID != "app-b" }
	k.Sync(context.Background())
	if got, _ := p.Sruns(); len(got) != 0 {
		t.Fatalf("sruns = %v, want none", got)
	}
}

func TestHealthyPrefersPrimariesThenBackups(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddrPort("127.0.0.1:1")
	b := netip.MustParseAddrPort("127.0.0.1:2")
	ms := []Member{{Addr: b, Index: 1}, {Addr: a, Index: 0}, {Addr: a, Index: 2, Backup: true}}
	if got := Healthy(ms, []bool{true, true, true}); len(got) != 2 || got[0].Index != 0 || got[1].Index != 1 {
		t.Fatalf("all up: %v", got)
	}
	if got := Healthy(ms, []bool{false, false, true}); len(got) != 1 || got[0].Index != 2 {
		t.Fatalf("only the backup: %v", got)
	}
}

func TestKeeperWaitsForASecondTimeoutButNotForARefusal(t *testing.T) {
	t.Parallel()
	p, err := Open(fakeDir(t, 80))
	if err != nil {
		t.Fatal(err)
	}
	a := Member{ID: "app-a", Addr: netip.MustParseAddrPort("127.0.0.1:6800"), Index: 0}
	b := Member{ID: "app-b", Addr: netip.MustParseAddrPort("127.0.0.1:6801"), Index: 1}
	results := map[string]error{}
	k := NewKeeper(p, nil)
	k.dial = func(_ context.Context, addr string) error { return results[addr] }
	k.SetMembers([]Member{a, b})
	sync := func(ra, rb error, want ...Member) {
		t.Helper()
		results[a.Addr.String()], results[b.Addr.String()] = ra, rb
		k.Sync(context.Background())
		got, err := p.Sruns()
		if err != nil || len(got) != len(want) {
			t.Fatalf("sruns = %v, %v; want %v", got, err, want)
		}
		for i := range want {
			if got[i].Addr != want[i].Addr {
				t.Fatalf("sruns = %v; want %v", got, want)
			}
		}
	}
	timeout := os.ErrDeadlineExceeded
	refused := syscall.ECONNREFUSED
	sync(nil, nil, a, b)
	sync(timeout, nil, a, b) // one slow probe: kept
	sync(timeout, nil, b)    // two in a row: out
	sync(nil, nil, a, b)     // back
	sync(nil, refused, a)    // refused: out at once
}
