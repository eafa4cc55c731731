package conf

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// debounce is how long Watch waits after the last change before it loads:
// editors save in bursts (truncate, write, rename, chmod).
const debounce = 100 * time.Millisecond

// Watch reloads the configuration whenever one of its files changes, until
// ctx is done. It watches the directories of current.Files rather than the
// files, so that editors that save by writing a new file and renaming it
// over the old one are seen. After a burst of changes has settled it calls
// Load: onLoad(cfg, nil) when the new configuration is valid, onLoad(nil,
// err) with the *Error when it is refused (the caller keeps the old one).
// After each load the watched set follows the files the configuration now
// imports, including optional imports that do not exist yet. Watch returns nil when ctx is done, or an error when watching
// cannot start.
func Watch(ctx context.Context, current *Config, log *zap.Logger, onLoad func(*Config, error)) error {
	if log == nil {
		log = zap.NewNop()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", current.File, err)
	}
	defer w.Close()

	files := map[string]bool{}
	dirs := map[string]bool{}
	// follow makes the watched set the given files (always with the main
	// file), adding and removing directory watches as needed.
	follow := func(list []string) error {
		files = map[string]bool{current.File: true}
		for _, f := range list {
			files[filepath.Clean(f)] = true
		}
		want := map[string]bool{}
		for f := range files {
			want[filepath.Dir(f)] = true
		}
		for d := range dirs {
			if !want[d] {
				_ = w.Remove(d) // the directory may be gone already
				delete(dirs, d)
			}
		}
		var firstErr error
		for d := range want {
			if dirs[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				// A directory that does not exist yet (an optional import)
				// is not fatal; the main file's directory is.
				if d == filepath.Dir(current.File) && firstErr == nil {
					firstErr = fmt.Errorf("watch %s: %w", d, err)
				}
				log.Debug("cannot watch directory", zap.String("dir", d), zap.Error(err))
				continue
			}
			dirs[d] = true
		}
		return firstErr
	}
	// Config.Files lists the files that were read; a missing optional
	// import must be watched too, so that creating it is seen. A quiet load
	// finds them.
	_, tried, _ := load(current.File)
	if err := follow(append(slices.Clone(current.Files), tried...)); err != nil {
		return err
	}

	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if files[filepath.Clean(ev.Name)] && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("configuration watch", zap.Error(err))
		case <-timer.C:
			cfg, tried, err := load(current.File)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				// Keep watching what was watched, and what the refused
				// edit tried to read (an import about to be created).
				list := tried
				for f := range files {
					list = append(list, f)
				}
				_ = follow(list)
				onLoad(nil, err)
				continue
			}
			_ = follow(append(slices.Clone(cfg.Files), tried...))
			onLoad(cfg, nil)
		}
	}
}
