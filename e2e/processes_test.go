package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/drill"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// TestProcesses_KillNineOfAWorker_EveryTurnIsAnsweredExactlyOnce runs the production
// topology as separate processes of the real binary: `switchboard dev --only-infra`
// (NATS, Temporal, the fake vendors), one `switchboard api` and two `switchboard
// worker`s. It sends turns through the API and kills one worker with SIGKILL while
// they are being processed, in the middle of sending replies (see killMidSend).
// Every turn must then get exactly one reply in the fakes' outbox: the turns the dead
// worker's bridge held come back after the consumer's AckWait (30 s), its workflow
// tasks after their timeout (10 s), and its claims on replies are taken over once
// their attempt's deadline and --send-claim-grace (5 s) have passed.
func TestProcesses_KillNineOfAWorker_EveryTurnIsAnsweredExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs four processes")
	}
	const (
		conversations = 40
		turnsEach     = 4
		total         = conversations * turnsEach
	)
	texts := [turnsEach]string{"hello", "where is my order", "when are you open", "track my package"}
	customer := func(c int) string { return fmt.Sprintf("+1555990%04d", c) }

	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	dataDir := filepath.Join(dir, "data")
	infra := startProcess(t, dir, "infra", bin, nil, "dev", "--only-infra", "--data-dir", dataDir,
		"--http-addr", "127.0.0.1:0", "--nats-port", "-1", "--temporal-port", "-1", "--no-ui",
		"--ops-token", opsToken, "--agent-token", agentToken, "--log-level", "warn")
	devURL := infra.waitFor(t, regexp.MustCompile(`switchboard infra ready: .* dev (http://\S+)`), 2*time.Minute)
	env := readEnvFile(t, filepath.Join(dataDir, "infra.env"))
	require.Equal(t, opsToken, env["SWITCHBOARD_OPS_TOKEN"])
	require.Contains(t, env["SWITCHBOARD_PROVIDER_URL"], "twilio=http://127.0.0.1:")

	ready := regexp.MustCompile(`msg="switchboard ready" role=(?:api|worker) http=(http://\S+)`)
	api := startProcess(t, dir, "api", bin, env, "api", "--http-addr", "127.0.0.1:0", "--instance", "api")
	var workers [2]*process
	for i := range workers {
		name := fmt.Sprintf("worker%d", i+1)
		workers[i] = startProcess(t, dir, name, bin, env, "worker", "--http-addr", "127.0.0.1:0", "--instance", name,
			"--send-claim-grace", "5s")
	}
	apiURL := api.waitFor(t, ready, time.Minute)
	var workerURL [2]string
	for i, w := range workers {
		workerURL[i] = w.waitFor(t, ready, time.Minute)
	}
	for _, u := range append([]string{apiURL}, workerURL[:]...) {
		require.Eventually(t, func() bool { return getStatus(t, u+"/readyz") == http.StatusOK }, 30*time.Second, 200*time.Millisecond, "%s/readyz", u)
	}
	// The worker's listener: open health, metrics for the ops role only, and nothing
	// of the API.
	resp, err := http.Get(workerURL[0] + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	noToken, err := http.NewRequest(http.MethodGet, workerURL[0]+"/metrics", nil)
	require.NoError(t, err)
	noToken.Header.Set("Authorization", "Bearer not-a-token-of-anyone")
	code, _, _ := do(t, noToken, "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, http.StatusNotFound, getStatus(t, workerURL[0]+"/v1/providers"))

	send := func(c, k int) {
		body := fmt.Sprintf(`{"message_id":"proc-%d-%d","channel":"sms","from":%q,"to":%q,"text":%q}`, c, k, customer(c), business, texts[k])
		for attempt := 0; ; attempt++ {
			resp, err := http.Post(apiURL+"/v1/turns", "application/json", strings.NewReader(body))
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					return
				}
				err = fmt.Errorf("%s: %s", resp.Status, b)
			}
			if attempt == 5 {
				t.Errorf("turn %d of conversation %d not accepted: %v", k, c, err)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	outbox := func() []fake.Sent {
		t.Helper()
		resp, err := http.Get(devURL + "/dev/outbox?canary=1") // the canary's replies too
		require.NoError(t, err)
		defer resp.Body.Close()
		var sent []fake.Sent
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&sent))
		return sent
	}
	// Round 1 opens every conversation, and warms both workers up.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for c := range conversations {
		wg.Add(1)
		sem <- struct{}{}
		go func() { defer wg.Done(); defer func() { <-sem }(); send(c, 0) }()
	}
	wg.Wait()
	require.Eventually(t, func() bool { return len(outbox()) >= conversations }, time.Minute, 200*time.Millisecond, "round 1 answered")

	// The other rounds trickle in while one worker is killed.
	var sent atomic.Int32
	sent.Store(conversations)
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for k := 1; k < turnsEach; k++ {
			for c := range conversations {
				send(c, k)
				sent.Add(1)
				time.Sleep(25 * time.Millisecond)
			}
		}
	}()
	victim := workers[0]
	require.Eventually(t, func() bool { return len(outbox()) >= conversations+20 }, time.Minute, 20*time.Millisecond)
	before := turnsProcessed(t, workerURL[0])
	require.Positive(t, before, "the worker to kill has processed turns")
	nc, err := nats.Connect(env["SWITCHBOARD_NATS_URL"])
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	killMidSend(t, victim, devURL)
	answeredAtKill, sentAtKill := len(outbox()), sent.Load()
	orphans := orphanClaims(t, js)
	t.Logf("killed %s after it processed %.0f turns, with %d of %d turns sent and %d answered; it left %d reply claims behind",
		victim.Name, before, sentAtKill, total, answeredAtKill, orphans)
	require.Less(t, answeredAtKill, total, "turns were still being processed when the worker died")
	<-sending
	require.False(t, t.Failed())

	// Every turn answered exactly once, by a bounded time.
	byCustomer := func(all []fake.Sent) map[string][]fake.Sent {
		m := map[string][]fake.Sent{}
		for _, s := range all {
			m[s.To] = append(m[s.To], s)
		}
		return m
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(outbox()) < total && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	// Then let everything settle: no turn left in JetStream and no claim on a reply
	// left open, so a late duplicate would be in the outbox by now.
	settled := false
	for settle := time.Now().Add(30 * time.Second); !settled && time.Now().Before(settle); time.Sleep(250 * time.Millisecond) {
		settled = bridgeIdle(t, js) && len(pendingClaims(t, js)) == 0
	}
	all := outbox()
	got := byCustomer(all)
	for c := range conversations {
		to := customer(c)
		keys := map[string]int{}
		for _, s := range got[to] {
			keys[s.IdempotencyKey]++
		}
		for key, n := range keys {
			require.Equal(t, 1, n, "conversation %d: reply %s sent %d times", c, key, n)
		}
		require.Len(t, got[to], turnsEach, "conversation %d: %d replies for %d turns", c, len(got[to]), turnsEach)
	}
	// The stack canary (a Temporal Schedule, every minute) writes to its own number.
	const canaryCustomer = "+15559990000"
	require.Len(t, all, total+len(got[canaryCustomer]), "no reply to anyone else")
	require.True(t, settled, "turns or reply claims still in flight: %d claims pending", len(pendingClaims(t, js)))

	// The transcripts agree: each turn replied once, with the message in the outbox.
	msgIDs := map[string]string{} // CPaaS message id -> customer
	for _, s := range all {
		msgIDs[s.MessageID] = s.To
	}
	for c := range conversations {
		to := customer(c)
		var tr turn.Transcript
		resp, err := http.Get(apiURL + "/v1/conversations/" + turn.ConversationID(turn.VendorAPI, "sms", to, business))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&tr))
		resp.Body.Close()
		require.Len(t, tr.Turns, turnsEach, "conversation %d", c)
		var ids []string
		for _, o := range tr.Turns {
			ids = append(ids, o.TurnID)
			require.Equal(t, turn.StatusReplied, o.Status, "conversation %d turn %s: %s", c, o.TurnID, o.Reason)
			require.Equal(t, to, msgIDs[o.MessageID], "conversation %d turn %s: its reply %q is not in the outbox", c, o.TurnID, o.MessageID)
		}
		slices.Sort(ids)
		require.Equal(t, []string{fmt.Sprintf("api:proc-%d-0", c), fmt.Sprintf("api:proc-%d-1", c), fmt.Sprintf("api:proc-%d-2", c), fmt.Sprintf("api:proc-%d-3", c)}, ids)
	}
	require.Equal(t, http.StatusOK, getStatus(t, apiURL+"/readyz"))
	require.Equal(t, http.StatusOK, getStatus(t, workerURL[1]+"/readyz"))
	require.Positive(t, turnsProcessed(t, workerURL[1]))
}

// killMidSend kills p with SIGKILL while replies it claimed in the send ledger are
// on their way to Twilio but cannot have been accepted yet: Twilio's fake answers
// every request from now on only after 1.2 s, and the process dies 300 ms from now.
// Its requests in flight then fail with its connections and the fake records none of
// them, so the reply of each such turn is owed by a claim of a dead worker: another
// worker has to replay the turn, find the lapsed claim unknown, ask Twilio (which has
// none of them) and send. A worker that dies after Twilio accepted a reply but before
// it recorded the receipt is TestProcesses_ABadNight_EveryPromiseHolds's case: the
// takeover finds the reply in Twilio's message list and sends nothing.
func killMidSend(t *testing.T, p *process, devURL string) {
	t.Helper()
	setFault(t, devURL, fake.Fault{Provider: "twilio", Mode: fake.ModeSlow, LatencyMS: 1200})
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, p.Kill())
	setFault(t, devURL, fake.Fault{Provider: "twilio", Mode: fake.ModeOK})
}

// orphanClaims counts the reply claims a worker killed by killMidSend left behind.
// The live worker's slow sends are answered within 1.2 s and confirmed; the dead
// worker's claims stay pending until a replay takes them over, at the earliest when
// the dead worker's workflow tasks time out (10 s).
func orphanClaims(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	time.Sleep(2 * time.Second)
	first := pendingClaims(t, js)
	time.Sleep(500 * time.Millisecond)
	orphans := 0
	for key := range pendingClaims(t, js) {
		if first[key] {
			orphans++
		}
	}
	return orphans
}

func setFault(t *testing.T, devURL string, f fake.Fault) {
	t.Helper()
	b, err := json.Marshal(f)
	require.NoError(t, err)
	resp, err := http.Post(devURL+"/dev/faults", "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// pendingClaims are the send-ledger keys (as idempotency keys) claimed but not
// confirmed as sent.
func pendingClaims(t *testing.T, js jetstream.JetStream) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, turn.SendsBucket)
	require.NoError(t, err)
	lister, err := kv.ListKeys(ctx)
	require.NoError(t, err)
	pending := map[string]bool{}
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue // released meanwhile
		}
		var entry struct {
			State string `json:"state"`
		}
		require.NoError(t, json.Unmarshal(e.Value(), &entry))
		if entry.State != "sent" {
			pending[strings.ReplaceAll(key, ".", "/")] = true
		}
	}
	return pending
}

// bridgeIdle reports that the bridge's consumers have no turn left to hand over.
func bridgeIdle(t *testing.T, js jetstream.JetStream) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pending, ackPending, err := streams.BridgeLag(ctx, js)
	require.NoError(t, err)
	return pending == 0 && ackPending == 0
}

// turnsProcessed sums switchboard_turns_processed_total on a worker's /metrics.
func turnsProcessed(t *testing.T, workerURL string) float64 {
	t.Helper()
	resp, err := http.Get(workerURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "switchboard_turns_processed_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(t, err, line)
		sum += v
	}
	return sum
}

// buildSwitchboard builds the binary into dir once per test.
func buildSwitchboard(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "switchboard")
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/switchboard")
	cmd.Dir = root
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/switchboard:\n%s", out)
	t.Logf("built switchboard in %s", time.Since(start).Round(time.Second))
	return bin
}

// process is a switchboard process started by a test: a drill.Process, the same
// harness `switchboard drill` runs its topology with, its output in one log file.
type process struct{ *drill.Process }

// startProcess runs bin with args, with the environment of the test minus any
// SWITCHBOARD_* variable, plus env. It is killed when the test ends, and the end of
// its output is logged if the test failed.
func startProcess(t *testing.T, dir, name, bin string, env map[string]string, args ...string) *process {
	t.Helper()
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			environ = append(environ, kv)
		}
	}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	p := &process{drill.NewProcess(name, filepath.Join(dir, name+".log"), bin, environ, args...)}
	require.NoError(t, p.Start(), "start %s", name)
	t.Cleanup(func() {
		require.NoError(t, p.Kill())
		if t.Failed() {
			p.dump(t)
		}
	})
	return p
}

// waitFor waits until the process's output holds a line matching re, and returns
// the first submatch.
func (p *process) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	s, err := p.WaitFor(context.Background(), re, timeout)
	require.NoError(t, err)
	return s
}

// dump logs the end of the process's output.
func (p *process) dump(t *testing.T) {
	b, err := os.ReadFile(p.LogFile)
	if err != nil {
		return
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > 80 {
		lines = append([][]byte{[]byte(fmt.Sprintf("... (%d lines before)", len(lines)-80))}, lines[len(lines)-80:]...)
	}
	t.Logf("---- %s:\n%s", p.Name, bytes.Join(lines, []byte("\n")))
}

// readEnvFile reads the infra.env that `dev --only-infra` writes.
func readEnvFile(t *testing.T, file string) map[string]string {
	t.Helper()
	env, err := drill.ReadEnvFile(file)
	require.NoError(t, err)
	return env
}
