package drill

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/internal/freeport"
)

// Topology is the drill's own stack, every part a process of this binary so that
// each can be killed alone: NATS, Temporal, the fake vendors, the workers and the
// apis. Ports stay the same across restarts, as a load balancer's backends do.
type Topology struct {
	Dir      string
	NATS     *Process
	Temporal *Process
	Fakes    *Process
	Workers  []*Process
	APIs     []*Process
	// Target reaches the topology.
	Target Target

	urls map[*Process]string // the HTTP base URL of each api and worker
}

// How long the parts may take to be ready on a busy machine.
const (
	infraReadyTimeout   = 3 * time.Minute
	serviceReadyTimeout = 2 * time.Minute
	stopGrace           = 20 * time.Second
)

// drillPublicURL is the base URL every api computes Twilio signatures over: the
// drill's apis stand behind one address, as behind a load balancer.
const drillPublicURL = "http://switchboard.drill.invalid"

func infraReady(part string) *regexp.Regexp {
	return regexp.MustCompile(`switchboard infra ` + part + ` ready: (\S+)`)
}

// StartTopology starts NATS, Temporal and the fakes, then the workers and the apis
// against them, in dir, and returns once every api and worker is ready. bin is the
// switchboard binary; policy the routing policy's contents. On error, whatever was
// started is stopped.
func StartTopology(ctx context.Context, bin, dir string, policy []byte, workers, apis int) (*Topology, error) {
	t := &Topology{Dir: dir, urls: map[*Process]string{}}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, err
	}
	policyFile, agentFile := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "agent.json")
	if policy == nil {
		policy = deploy.DevPolicy
	}
	if err := os.WriteFile(policyFile, policy, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(agentFile, agent.Demo, 0o600); err != nil {
		return nil, err
	}
	ports, err := freeport.Pick("127.0.0.1", 2+workers+apis)
	if err != nil {
		return nil, err
	}
	base := childEnv()
	logFile := func(name string) string { return filepath.Join(dir, "logs", name+".log") }
	envFile := filepath.Join(dir, "fakes.env")
	t.NATS = NewProcess("nats", logFile("nats"), bin, base, "infra", "nats",
		"--port", strconv.Itoa(ports[0]), "--store-dir", filepath.Join(dir, "nats"))
	t.Temporal = NewProcess("temporal", logFile("temporal"), bin, base, "infra", "temporal",
		"--port", strconv.Itoa(ports[1]), "--db-file", filepath.Join(dir, "temporal.db"))
	t.Fakes = NewProcess("fakes", logFile("fakes"), bin, base, "infra", "fakes",
		"--policy", policyFile, "--agent-file", agentFile, "--env-file", envFile)

	fail := func(err error) (*Topology, error) {
		t.Stop()
		return nil, err
	}
	infra := map[*Process]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, p := range []*Process{t.NATS, t.Temporal, t.Fakes} {
		wg.Go(func() {
			if errs[i] = p.Start(); errs[i] != nil {
				return
			}
			addr, err := p.WaitFor(ctx, infraReady(p.Name), infraReadyTimeout)
			errs[i] = err
			mu.Lock()
			infra[p] = addr
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	fakesEnv, err := ReadEnvFile(envFile)
	if err != nil {
		return fail(err)
	}

	t.Target = Target{
		Dev: infra[t.Fakes], NATS: infra[t.NATS], PublicURL: drillPublicURL,
		OpsToken: randomToken("ops"), AgentToken: randomToken("agent"), IngressToken: randomToken("ingress"),
		TwilioAccountSID:      fakesEnv["SWITCHBOARD_TWILIO_ACCOUNT_SID"],
		TwilioAuthToken:       fakesEnv["SWITCHBOARD_TWILIO_AUTH_TOKEN"],
		VonageSignatureSecret: fakesEnv["SWITCHBOARD_VONAGE_SIGNATURE_SECRET"],
	}
	env := append([]string(nil), base...)
	for k, v := range fakesEnv {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"SWITCHBOARD_NATS_URL="+infra[t.NATS],
		"SWITCHBOARD_STREAM_REPLICAS=1",
		"SWITCHBOARD_TEMPORAL_ADDRESS="+infra[t.Temporal],
		"SWITCHBOARD_TEMPORAL_COMPRESSION=none", // loopback: compression costs CPU and saves nothing
		"SWITCHBOARD_POLICY="+policyFile,
		"SWITCHBOARD_AGENT_FILE="+agentFile,
		"SWITCHBOARD_PUBLIC_URL="+drillPublicURL,
		"SWITCHBOARD_OPS_TOKEN="+t.Target.OpsToken,
		"SWITCHBOARD_AGENT_TOKEN="+t.Target.AgentToken,
		"SWITCHBOARD_INGRESS_TOKEN="+t.Target.IngressToken,
		"SWITCHBOARD_LOG_LEVEL=warn",
	)
	next := 2
	add := func(role string, i int) *Process {
		name := fmt.Sprintf("%s-%d", role, i+1)
		addr := "127.0.0.1:" + strconv.Itoa(ports[next])
		next++
		p := NewProcess(name, logFile(name), bin, env, role, "--http-addr", addr, "--instance", name)
		t.urls[p] = "http://" + addr
		return p
	}
	for i := range workers {
		t.Workers = append(t.Workers, add(ProcessWorker, i))
	}
	for i := range apis {
		p := add(ProcessAPI, i)
		t.APIs = append(t.APIs, p)
		t.Target.APIs = append(t.Target.APIs, t.urls[p])
	}
	services := append(append([]*Process(nil), t.Workers...), t.APIs...)
	errs = make([]error, len(services))
	for i, p := range services {
		wg.Go(func() { _, errs[i] = t.supervise(ctx, p) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return t, nil
}

// maxStarts bounds how often supervise starts a process that exits at start.
const maxStarts = 15

// supervise starts p and waits until it is ready, starting it again when it exits
// first, as systemd or Kubernetes would: an api started while NATS is down exits,
// and its supervisor starts it again. It returns the last line of each run that
// exited.
func (t *Topology) supervise(ctx context.Context, p *Process) (exits []string, err error) {
	for start := 1; ; start++ {
		if err := p.Start(); err != nil {
			return exits, err
		}
		err := t.waitReady(ctx, p)
		if err == nil || !errors.Is(err, errExited) || start == maxStarts || ctx.Err() != nil {
			return exits, err
		}
		exits = append(exits, p.lastLine())
		select {
		case <-time.After(min(time.Duration(start)*time.Second, 5*time.Second)):
		case <-ctx.Done():
			return exits, ctx.Err()
		}
	}
}

// waitReady waits until p serves: an api or a worker answers /readyz with 200, an
// infrastructure part prints its ready line.
func (t *Topology) waitReady(ctx context.Context, p *Process) error {
	u, ok := t.urls[p]
	if !ok {
		_, err := p.WaitFor(ctx, infraReady(p.Name), infraReadyTimeout)
		return err
	}
	deadline := time.Now().Add(serviceReadyTimeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get(u + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s %w (%v); its log: %s", p.Name, errExited, p.exitError(), p.LogFile)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready within %s; its log: %s", p.Name, serviceReadyTimeout, p.LogFile)
		}
	}
}

// Process finds a process by the name a fault gives it: worker-2, api-1, nats,
// temporal.
func (t *Topology) Process(name string) *Process {
	for _, p := range t.all() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Restart kills p (SIGKILL, or SIGTERM with term), waits downFor, starts it again
// and waits until it is ready (see supervise). It returns when p went down and when
// it was ready, and the last line of each run that exited at start.
func (t *Topology) Restart(ctx context.Context, p *Process, term bool, downFor time.Duration) (down, up time.Time, exits []string, err error) {
	if term {
		err = p.Stop(stopGrace)
	} else {
		err = p.Kill()
	}
	down = time.Now()
	if err != nil {
		return down, time.Time{}, nil, err
	}
	select {
	case <-time.After(downFor):
	case <-ctx.Done():
	}
	// Not bounded by ctx: a drill cut short still leaves its stack whole for the
	// checker to read.
	exits, err = t.supervise(context.WithoutCancel(ctx), p)
	if err != nil {
		return down, time.Time{}, exits, err
	}
	return down, time.Now(), exits, nil
}

// Stop stops every process: the apis and the workers first, then the
// infrastructure they need to shut down cleanly.
func (t *Topology) Stop() {
	var wg sync.WaitGroup
	for _, group := range [][]*Process{append(append([]*Process(nil), t.APIs...), t.Workers...), {t.Fakes, t.Temporal, t.NATS}} {
		for _, p := range group {
			if p != nil {
				wg.Go(func() { _ = p.Stop(stopGrace) })
			}
		}
		wg.Wait()
	}
}

func (t *Topology) all() []*Process {
	out := []*Process{t.NATS, t.Temporal, t.Fakes}
	out = append(out, t.Workers...)
	return append(out, t.APIs...)
}

// childEnv is the drill's environment without SWITCHBOARD_* settings: the
// topology's processes get exactly the settings the drill gives them.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			env = append(env, kv)
		}
	}
	return env
}

// ReadEnvFile reads NAME=VALUE lines, values optionally single-quoted as a shell
// reads them: the env files `switchboard infra fakes` and `dev --only-infra` write.
func ReadEnvFile(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is no NAME=VALUE line", file, line)
		}
		if strings.HasPrefix(v, "'") {
			v = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'"), `'\''`, "'")
		}
		env[k] = v
	}
	return env, sc.Err()
}

// randomToken is a fresh bearer token for one drill: the apis require 16
// characters at least.
func randomToken(role string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return role + "-" + hex.EncodeToString(b)
}
