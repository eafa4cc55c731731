package conf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// watchResult collects what Watch hands to onLoad.
type watchResult struct {
	mu   sync.Mutex
	cfgs []*Config
	errs []error
	ch   chan struct{}
}

func (w *watchResult) onLoad(cfg *Config, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errs = append(w.errs, err)
	} else {
		w.cfgs = append(w.cfgs, cfg)
	}
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds, failing after a deadline.
func (w *watchResult) waitFor(t *testing.T, what string, cond func(cfgs []*Config, errs []error) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		ok := cond(w.cfgs, w.errs)
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func serverPortConfig(port string) string {
	return resinXML(`<cluster id="c"><server id="a" port="` + port + `"/>
  <resin:import path="extra.xml" optional="true"/>
</cluster>`)
}

func lastPort(cfgs []*Config) int {
	if len(cfgs) == 0 {
		return -1
	}
	return cfgs[len(cfgs)-1].Clusters[0].Servers[0].Port
}

// startWatch loads path and watches it until the test ends.
func startWatch(t *testing.T, path string) *watchResult {
	t.Helper()
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	w := &watchResult{ch: make(chan struct{}, 1)}
	ready := make(chan struct{})
	go func() {
		close(ready)
		done <- Watch(ctx, cfg, zaptest.NewLogger(t), w.onLoad)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
	})
	<-ready
	return w
}

// rewrite writes data to path until the watcher has seen it: the watcher
// may not have added its watches yet when the first write happens.
func rewrite(t *testing.T, w *watchResult, what string, write func(), cond func([]*Config, []error) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		write()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		seen := false
		for !seen && ctx.Err() == nil {
			w.mu.Lock()
			seen = cond(w.cfgs, w.errs)
			w.mu.Unlock()
			if !seen {
				select {
				case <-w.ch:
				case <-ctx.Done():
				}
			}
		}
		cancel()
		if seen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatchReloadsOnEditInPlaceAndByRename(t *testing.T) {
	t.Parallel()
	path := writeFiles(t, "resin.xml", map[string]string{"resin.xml": serverPortConfig("6800")})
	w := startWatch(t, path)

	rewrite(t, w, "in-place edit", func() { writeFile(t, path, serverPortConfig("6801")) },
		func(c []*Config, _ []error) bool { return lastPort(c) == 6801 })

	// An editor's atomic save: write a temporary file, rename it over.
	rewrite(t, w, "rename-over", func() {
		tmp := filepath.Join(filepath.Dir(path), ".resin.xml.swp")
		writeFile(t, tmp, serverPortConfig("6802"))
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}, func(c []*Config, _ []error) bool { return lastPort(c) == 6802 })

	// A broken edit is refused with file:line; the next good one loads.
	rewrite(t, w, "refused edit", func() { writeFile(t, path, serverPortConfig("68o0")) },
		func(_ []*Config, e []error) bool { return len(e) > 0 })
	w.mu.Lock()
	err := w.errs[len(w.errs)-1]
	w.mu.Unlock()
	var ce *Error
	if !errors.As(err, &ce) || !strings.HasSuffix(ce.Diags[0].Pos.File, "resin.xml") || ce.Diags[0].Pos.Line != 2 ||
		!strings.Contains(err.Error(), `resin.xml:2: <server id="a">: port "68o0" is not a number`) {
		t.Errorf("refusal %v", err)
	}
	rewrite(t, w, "fixed edit", func() { writeFile(t, path, serverPortConfig("6803")) },
		func(c []*Config, _ []error) bool { return lastPort(c) == 6803 })
}

func TestWatchFollowsImportsThatAppear(t *testing.T) {
	t.Parallel()
	path := writeFiles(t, "resin.xml", map[string]string{"resin.xml": serverPortConfig("6800")})
	extra := filepath.Join(filepath.Dir(path), "extra.xml")
	w := startWatch(t, path)

	// The optional import is created: it is watched although it did not
	// exist when watching started.
	rewrite(t, w, "import created", func() { writeFile(t, extra, `<cluster><server id="b" port="6900"/></cluster>`) },
		func(c []*Config, _ []error) bool {
			return len(c) > 0 && len(c[len(c)-1].Clusters[0].Servers) == 2
		})
	rewrite(t, w, "import edited", func() { writeFile(t, extra, `<cluster><server id="b" port="6901"/></cluster>`) },
		func(c []*Config, _ []error) bool {
			if len(c) == 0 {
				return false
			}
			s := c[len(c)-1].Clusters[0].Servers
			return len(s) == 2 && s[1].Port == 6901
		})
}

func TestWatchReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	path := writeFiles(t, "resin.xml", map[string]string{"resin.xml": serverPortConfig("6800")})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, cfg, nil, func(*Config, error) {}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}
