package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a process of the drill's topology: one command line, started, killed
// and started again, with all its output appended to one log file.
type Process struct {
	Name    string
	LogFile string

	bin  string
	args []string
	env  []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current run exits
	waitErr error
	offset  int64 // where the current run's output begins in LogFile
	runs    int
}

// NewProcess describes a process; env is its whole environment.
func NewProcess(name, logFile, bin string, env []string, args ...string) *Process {
	return &Process{Name: name, LogFile: logFile, bin: bin, args: args, env: env}
}

// Start starts a new run of the process. It must not be running.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("%s is already running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	out, err := os.OpenFile(p.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := out.Stat()
	if err != nil {
		out.Close()
		return err
	}
	p.runs++
	fmt.Fprintf(out, "---- %s run %d, %s\n", p.Name, p.runs, time.Now().Format(time.RFC3339Nano))
	p.offset = st.Size()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Running reports whether the current run is alive.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.done)
}

// Done is closed when the current run exits.
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// exitError says how the current run ended.
func (p *Process) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waitErr == nil {
		return errors.New("exited")
	}
	return p.waitErr
}

// Kill sends SIGKILL and waits for the run to end.
func (p *Process) Kill() error { return p.signal(syscall.SIGKILL, 0) }

// Stop sends SIGTERM, waits up to grace for the run to end, then kills it.
func (p *Process) Stop(grace time.Duration) error { return p.signal(syscall.SIGTERM, grace) }

func (p *Process) signal(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	if sig == syscall.SIGKILL {
		<-done
		return nil
	}
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not stop within %s of SIGTERM: killed", p.Name, grace)
	}
}

// WaitFor waits until the current run has written a line matching re, and returns
// its first submatch. It fails when the run exits first or timeout passes.
func (p *Process) WaitFor(ctx context.Context, re *regexp.Regexp, timeout time.Duration) (string, error) {
	p.mu.Lock()
	offset, done := p.offset, p.done
	p.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindSubmatch(p.output(offset)); m != nil {
			if len(m) > 1 {
				return string(m[1]), nil
			}
			return string(m[0]), nil
		}
		select {
		case <-done:
			return "", fmt.Errorf("%s %w (%v); its log: %s", p.Name, errExited, p.exitError(), p.LogFile)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s was not ready within %s; its log: %s", p.Name, timeout, p.LogFile)
		}
	}
}

// errExited: the process ended before it was ready.
var errExited = errors.New("exited before it was ready")

// lastLine is the last line the current run wrote: why it exited, usually.
func (p *Process) lastLine() string {
	p.mu.Lock()
	offset := p.offset
	p.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(p.output(offset))), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// output is the current run's output so far.
func (p *Process) output(offset int64) []byte {
	f, err := os.Open(p.LogFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return b
}
