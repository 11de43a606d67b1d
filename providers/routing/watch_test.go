package routing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watched starts a Watcher on a fresh copy of the base policy and records what it
// reports.
type watched struct {
	*Watcher
	path    string
	changes chan *Policy
	errs    chan error
}

func startWatch(t *testing.T, path string) *watched {
	t.Helper()
	w := &watched{path: path, changes: make(chan *Policy, 16), errs: make(chan error, 16)}
	var err error
	w.Watcher, err = Watch(t.Context(), path, func(p *Policy) { w.changes <- p }, func(err error) { w.errs <- err })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func (w *watched) nextChange(t *testing.T) *Policy {
	t.Helper()
	select {
	case p := <-w.changes:
		return p
	case err := <-w.errs:
		t.Fatalf("want a new policy, got error %v", err)
	case <-time.After(30 * time.Second): // liveness, generous for -race on a loaded machine
		t.Fatal("no reload within 30s")
	}
	return nil
}

func (w *watched) nextError(t *testing.T) error {
	t.Helper()
	select {
	case err := <-w.errs:
		return err
	case p := <-w.changes:
		t.Fatalf("want an error, got a new policy with stuck_after %v", p.StuckAfter)
	case <-time.After(30 * time.Second): // liveness, generous for -race on a loaded machine
		t.Fatal("no error reported within 30s")
	}
	return nil
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTheWatcherFollowsEditsAndKeepsTheLastGoodPolicy(t *testing.T) {
	base := basePolicy(t)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, base)
	w := startWatch(t, path)
	if got := w.Current().StuckAfter; got != 10*time.Minute {
		t.Fatalf("initial policy: stuck_after %v", got)
	}

	// A valid change is picked up.
	writeFile(t, path, edit(t, base, "stuck_after: 10m", "stuck_after: 15m"))
	if p := w.nextChange(t); p.StuckAfter != 15*time.Minute || w.Current() != p {
		t.Fatalf("after a valid change: got %v, current %v", p.StuckAfter, w.Current().StuckAfter)
	}
	if w.LastError() != nil {
		t.Errorf("LastError = %v after a good reload", w.LastError())
	}

	// An invalid change is reported, and the last good policy stays in force.
	writeFile(t, path, edit(t, base, "stuck_after: 10m", "stuck_after: 20m\nstuck_afer: 1m"))
	err := w.nextError(t)
	if !strings.Contains(err.Error(), "policy.yaml:32:1: stuck_afer: unknown field") {
		t.Errorf("error %v does not name the line and field", err)
	}
	if got := w.Current().StuckAfter; got != 15*time.Minute {
		t.Errorf("after an invalid change the current policy has stuck_after %v, want the last good 15m", got)
	}
	if w.LastError() == nil {
		t.Error("LastError is nil after a refused change")
	}

	// The fix is picked up, and the error clears.
	writeFile(t, path, edit(t, base, "stuck_after: 10m", "stuck_after: 20m"))
	if p := w.nextChange(t); p.StuckAfter != 20*time.Minute {
		t.Fatalf("after the fix: stuck_after %v", p.StuckAfter)
	}
	if w.LastError() != nil {
		t.Errorf("LastError = %v after the fix", w.LastError())
	}
}

func TestTheWatcherFollowsAnEditorThatRenamesANewFileOverTheOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	writeFile(t, path, basePolicy(t))
	w := startWatch(t, path)

	tmp := filepath.Join(dir, ".policy.yaml.swp")
	writeFile(t, tmp, edit(t, basePolicy(t), "stuck_after: 10m", "stuck_after: 12m"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if p := w.nextChange(t); p.StuckAfter != 12*time.Minute {
		t.Fatalf("stuck_after %v", p.StuckAfter)
	}
	// And keeps following the new file.
	writeFile(t, path, edit(t, basePolicy(t), "stuck_after: 10m", "stuck_after: 13m"))
	if p := w.nextChange(t); p.StuckAfter != 13*time.Minute {
		t.Fatalf("stuck_after %v", p.StuckAfter)
	}
}

// A Kubernetes ConfigMap volume holds policy.yaml -> ..data/policy.yaml, and
// ..data -> ..<timestamp>/. An update writes a new timestamped directory and swaps
// the ..data symlink; policy.yaml itself never changes.
func TestTheWatcherFollowsAKubernetesConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	mk := func(version, content string) {
		d := filepath.Join(dir, version)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, "policy.yaml"), content)
	}
	mk("..2026_01_01_00_00_00.1", basePolicy(t))
	if err := os.Symlink("..2026_01_01_00_00_00.1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.Symlink(filepath.Join("..data", "policy.yaml"), path); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, path)

	mk("..2026_01_01_00_05_00.2", edit(t, basePolicy(t), "stuck_after: 10m", "stuck_after: 11m"))
	tmpLink := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink("..2026_01_01_00_05_00.2", tmpLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	if p := w.nextChange(t); p.StuckAfter != 11*time.Minute {
		t.Fatalf("stuck_after %v", p.StuckAfter)
	}
}

func TestAFileThatVanishesKeepsThePolicyAndIsReportedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, basePolicy(t))
	w := startWatch(t, path)
	first := w.Current()

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.nextError(t); !strings.Contains(err.Error(), "keeping the last good policy") {
		t.Errorf("error %v", err)
	}
	if w.Current() != first {
		t.Error("the policy changed when its file vanished")
	}
	// Back with the same content: nothing to load, and the error clears.
	writeFile(t, path, basePolicy(t))
	deadline := time.Now().Add(30 * time.Second)
	for w.LastError() != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polls for the error to clear
	}
	if w.LastError() != nil {
		t.Errorf("LastError = %v once the file is back", w.LastError())
	}
	// Instead of waiting a while for a report that should not come: Reload holds the
	// lock every reload reports under, so once it returns the reload the write
	// triggered has reported all it would; and Reload reads the same content itself,
	// reporting synchronously what a reload of it reports. Either report would be in
	// the channels now.
	if err := w.Reload(); err != nil {
		t.Errorf("Reload of the file that is back: %v", err)
	}
	select {
	case p := <-w.changes:
		t.Errorf("identical content was reported as a change (%p)", p)
	case err := <-w.errs:
		t.Errorf("the missing file was reported again: %v", err)
	default:
	}
}

func TestWatchFailsOnAnInvalidPolicyAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, edit(t, basePolicy(t), "version: 1", "version: 7"))
	w, err := Watch(t.Context(), path, nil, nil)
	if err == nil {
		w.Close()
		t.Fatal("Watch accepted an invalid policy")
	}
	if !strings.Contains(err.Error(), path+":1:10: version:") {
		t.Errorf("err = %v", err)
	}
	if _, err := Watch(t.Context(), filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); err == nil {
		t.Error("Watch accepted a missing file")
	}
}

func TestReloadReadsTheFileNow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, basePolicy(t))
	w, err := Watch(t.Context(), path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeFile(t, path, edit(t, basePolicy(t), "stuck_after: 10m", "stuck_after: 14m"))
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := w.Current().StuckAfter; got != 14*time.Minute {
		t.Errorf("stuck_after %v after Reload", got)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestTheWatcherFollowsAFileLinkedFromAnotherDirectory(t *testing.T) {
	real := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, real, basePolicy(t))
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, path)
	writeFile(t, real, edit(t, basePolicy(t), "stuck_after: 10m", "stuck_after: 16m"))
	if p := w.nextChange(t); p.StuckAfter != 16*time.Minute {
		t.Fatalf("stuck_after %v", p.StuckAfter)
	}
}
