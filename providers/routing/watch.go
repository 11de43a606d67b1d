package routing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// ReloadDelay is how long the Watcher waits after the first change in the policy's
// directory before it reads the file again, so that an editor's or a deployment's
// burst of writes, renames and symlink swaps is read once, complete.
const ReloadDelay = 200 * time.Millisecond

// Watcher keeps the policy of one file current. A change that doesn't parse or
// validate is reported and ignored: the last good policy stays in force.
type Watcher struct {
	path     string
	onChange func(*Policy)
	onError  func(error)

	current atomic.Pointer[Policy]
	lastErr atomic.Pointer[error]

	reloadMu  sync.Mutex // serialises reloads
	lastSum   [sha256.Size]byte
	lastRead  error // the last read error, so it's reported once, not on every event
	lastParse error // the outcome of parsing the content whose hash is lastSum

	fsw       *fsnotify.Watcher
	targetDir string // the directory of the file path links to, when it is elsewhere
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Watch loads the policy at path, failing if it is missing or invalid, then watches
// it until ctx ends or Close is called. onChange gets each new valid policy (not the
// first one: read that with Current); onError gets each change that was refused, and
// problems of the watch itself. Both are called from one goroutine, one at a time,
// and may be nil. They must not call Close.
//
// The directory holding the file is watched rather than the file, so that editors
// that save by renaming a new file over the old one, and Kubernetes ConfigMap
// volumes that swap a symlink, are followed. Any change in the directory rereads the
// file; identical content is not parsed again.
func Watch(ctx context.Context, path string, onChange func(*Policy), onError func(error)) (*Watcher, error) {
	w := &Watcher{path: path, onChange: onChange, onError: onError, done: make(chan struct{})}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routing policy: %w", err)
	}
	p, err := ParseFile(path, data)
	if err != nil {
		return nil, err
	}
	w.current.Store(p)
	w.lastSum = sha256.Sum256(data)

	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("routing policy: watching %s: %w", path, err)
	}
	if err := fsw.Add(filepath.Dir(path)); err != nil {
		_ = fsw.Close()
		return nil, fmt.Errorf("routing policy: watching %s: %w", filepath.Dir(path), err)
	}
	w.fsw = fsw
	w.followTarget()
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx)
	return w, nil
}

// Current is the policy in force: the last one that loaded without error.
func (w *Watcher) Current() *Policy { return w.current.Load() }

// LastError is the error of the last reload, or nil when the last reload succeeded
// (or none was needed since the start).
func (w *Watcher) LastError() error {
	if e := w.lastErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Close stops watching. The current policy stays readable.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
		w.closeErr = w.fsw.Close()
	})
	return w.closeErr
}

// Reload reads the file now, as a change would (for SIGHUP, say). It returns the
// reload's error, which onError also gets.
func (w *Watcher) Reload() error {
	w.reload()
	return w.LastError()
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	var timer *time.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			// The first change arms the timer; later ones do not push it back, so
			// steady writes to other files of the directory (a database beside the
			// policy, say) cannot postpone a reload forever. A half-written file is
			// refused, and the write that completes it arms the timer again.
			if fire != nil {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(ReloadDelay)
			} else {
				timer.Reset(ReloadDelay)
			}
			fire = timer.C
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.report(fmt.Errorf("routing policy: watching %s: %w", w.path, err))
		case <-fire:
			fire = nil
			w.reload()
		}
	}
}

// followTarget also watches the directory of the file that path is a symlink to,
// when that is another directory, so that edits made there are seen. It follows the
// link anew after every change. Requires reloadMu, or the Watcher not yet running.
func (w *Watcher) followTarget() {
	real, err := filepath.EvalSymlinks(w.path)
	if err != nil {
		return
	}
	dir := filepath.Dir(real)
	if own, err := filepath.EvalSymlinks(filepath.Dir(w.path)); err == nil && own == dir {
		dir = ""
	}
	if dir == w.targetDir {
		return
	}
	if w.targetDir != "" {
		_ = w.fsw.Remove(w.targetDir) // gone already, when a ConfigMap swap removed it
	}
	w.targetDir = ""
	if dir != "" && w.fsw.Add(dir) == nil {
		w.targetDir = dir
	}
}

func (w *Watcher) reload() {
	w.reloadMu.Lock()
	defer w.reloadMu.Unlock()
	w.followTarget()
	data, err := os.ReadFile(w.path)
	if err != nil {
		err = fmt.Errorf("routing policy: %w; keeping the last good policy", err)
		if w.lastRead == nil || w.lastRead.Error() != err.Error() {
			w.lastRead = err
			w.setErr(err)
			w.report(err)
		}
		return
	}
	w.lastRead = nil
	sum := sha256.Sum256(data)
	if bytes.Equal(sum[:], w.lastSum[:]) {
		// Unchanged since the last attempt, good or bad (a file that vanished for a
		// moment and came back the same, say).
		w.setErr(w.lastParse)
		return
	}
	w.lastSum = sum
	p, err := ParseFile(w.path, data)
	w.lastParse = err
	if err != nil {
		w.setErr(err)
		w.report(err)
		return
	}
	w.current.Store(p)
	w.setErr(nil)
	if w.onChange != nil {
		w.onChange(p)
	}
}

func (w *Watcher) setErr(err error) {
	if err == nil {
		w.lastErr.Store(nil)
		return
	}
	w.lastErr.Store(&err)
}

func (w *Watcher) report(err error) {
	if w.onError != nil && err != nil {
		w.onError(err)
	}
}
