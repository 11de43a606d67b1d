package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/devstack"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// TestProcesses_ABadNight_EveryPromiseHolds runs the production roles as processes
// of the real binary (NATS and Temporal in `switchboard dev --only-infra`, one
// `switchboard api`, two `switchboard worker`s) against fake vendors that live in
// the test process, so that they outlive every process the test kills. While 30
// customers each send 6 turns, back to back:
//   - Twilio takes every message and never answers for 10 s (accept_then_hang);
//   - a worker is killed with SIGKILL and restarted, then the other one;
//   - NATS and Temporal are killed with SIGKILL together and restarted on their data.
//
// Once the stack has settled it checks the four promises: every turn accepted with a
// 2xx has exactly one reply, the replies follow the order of the turns, nothing was
// sent that no turn asked for, and no conversation is left stuck. It logs the figures.
func TestProcesses_ABadNight_EveryPromiseHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs four processes")
	}
	const (
		customers = 30
		turnsEach = 6
		total     = customers * turnsEach
	)
	customer := func(c int) string { return fmt.Sprintf("+1555880%04d", c) }
	// Questions the demo agent answers: no-match streaks would hand the
	// conversation to a human, whose turns the bot does not answer.
	texts := []string{"hello", "where is my order", "when are you open", "track my package"}

	pol, err := routing.Load("../deploy/policy.dev.yaml")
	require.NoError(t, err)
	agent, err := localnlu.LoadAgent("../deploy/agent/demo-agent.json")
	require.NoError(t, err)
	vendors, err := devstack.StartFakes(pol, agent, testmsg.DevTwilioAuthToken)
	require.NoError(t, err)
	t.Cleanup(vendors.Stop)
	var urls []string
	for name, u := range vendors.Connections().ProviderURLs {
		urls = append(urls, name+"="+u)
	}
	sort.Strings(urls)

	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	dataDir := filepath.Join(dir, "data")
	natsPort, temporalPort := freePort(t), freePort(t)
	infraArgs := []string{"dev", "--only-infra", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0",
		"--nats-port", fmt.Sprint(natsPort), "--temporal-port", fmt.Sprint(temporalPort), "--no-ui",
		"--ops-token", opsToken, "--agent-token", agentToken, "--log-level", "warn"}
	infraReady := regexp.MustCompile(`switchboard infra ready: .* dev (http://\S+)`)
	infra := startProcess(t, dir, "infra", bin, nil, infraArgs...)
	infra.waitFor(t, "stdout", infraReady, 2*time.Minute)
	env := readEnvFile(t, filepath.Join(dataDir, "infra.env"))

	ready := regexp.MustCompile(`msg="switchboard ready" role=(?:api|worker) http=(http://\S+)`)
	api := startProcess(t, dir, "api", bin, env, "api", "--http-addr", "127.0.0.1:0", "--instance", "api")
	apiURL := api.waitFor(t, "stderr", ready, time.Minute)
	startWorker := func(name string) *process {
		w := startProcess(t, dir, name, bin, env, "worker", "--http-addr", "127.0.0.1:0", "--instance", name,
			"--provider-url", strings.Join(urls, ","))
		u := w.waitFor(t, "stderr", ready, time.Minute)
		require.Eventually(t, func() bool { return getStatus(t, u+"/readyz") == http.StatusOK }, 30*time.Second, 200*time.Millisecond)
		return w
	}
	workers := []*process{startWorker("worker1"), startWorker("worker2")}
	require.Eventually(t, func() bool { return getStatus(t, apiURL+"/readyz") == http.StatusOK }, 30*time.Second, 200*time.Millisecond)

	// Each customer sends its turns one after the other, each retried with the same
	// message id until it is accepted, as a vendor retries a webhook.
	var (
		mu       sync.Mutex
		accepted = map[string]time.Time{} // turn id -> when the 2xx came
		refused  int                      // answers other than 2xx, and dropped connections
	)
	post := func(c, k int) {
		body := fmt.Sprintf(`{"message_id":"night-%d-%d","channel":"sms","from":%q,"to":%q,"text":%q}`, c, k, customer(c), business, texts[(c+k)%len(texts)])
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
			resp, err := http.Post(apiURL+"/v1/turns", "application/json", strings.NewReader(body))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					accepted[fmt.Sprintf("api:night-%d-%d", c, k)] = time.Now()
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			refused++
			mu.Unlock()
			time.Sleep(250 * time.Millisecond)
		}
		t.Errorf("turn %d of customer %d never accepted", k, c)
	}
	start := time.Now()
	var load sync.WaitGroup
	for c := range customers {
		load.Go(func() {
			for k := range turnsEach {
				post(c, k)
				time.Sleep(time.Duration(2000+(c*37)%1500) * time.Millisecond)
			}
		})
	}

	// The night: faults on a fixed schedule while the turns arrive.
	var faultsLog []string
	at := func(d time.Duration, what string, do func()) {
		time.Sleep(time.Until(start.Add(d)))
		do()
		faultsLog = append(faultsLog, fmt.Sprintf("%5.1fs %s", time.Since(start).Seconds(), what))
	}
	setTwilio := func(f fake.Fault) {
		f.Provider = "twilio"
		require.NoError(t, vendors.Faults.Set(f))
	}
	kill := func(p *process) {
		require.NoError(t, p.cmd.Process.Kill())
		<-p.done
	}
	at(3*time.Second, "twilio accepts and hangs", func() { setTwilio(fake.Fault{Mode: fake.ModeAcceptThenHang}) })
	at(6*time.Second, "kill -9 worker1", func() { kill(workers[0]) })
	at(9*time.Second, "restart worker1", func() { workers[0] = startWorker("worker1b") })
	at(13*time.Second, "twilio answers again", func() { setTwilio(fake.Fault{Mode: fake.ModeOK}) })
	at(15*time.Second, "kill -9 NATS and Temporal", func() { kill(infra) })
	at(18*time.Second, "restart NATS and Temporal", func() {
		infra = startProcess(t, dir, "infra2", bin, nil, infraArgs...)
		infra.waitFor(t, "stdout", infraReady, 2*time.Minute)
	})
	at(24*time.Second, "kill -9 worker2", func() { kill(workers[1]) })
	at(27*time.Second, "restart worker2", func() { workers[1] = startWorker("worker2b") })
	load.Wait()
	loadDone := time.Since(start)
	require.False(t, t.Failed())

	// Settled: every conversation has all its turns replied and nothing stuck.
	conv := func(c int) string { return turn.ConversationID(turn.VendorAPI, "sms", customer(c), business) }
	transcripts := make([]turn.Transcript, customers)
	require.Eventually(t, func() bool {
		for c := range customers {
			if done(transcripts[c], turnsEach) {
				continue
			}
			tr, ok := tryTranscriptAt(apiURL, conv(c))
			if !ok || !done(tr, turnsEach) {
				return false
			}
			transcripts[c] = tr
		}
		return true
	}, 4*time.Minute, time.Second, "every turn answered once the stack settled")
	settledAt := time.Since(start)

	sent := vendors.Outbox.List()
	perKey, perCustomer := map[string]int{}, map[string][]fake.Sent{}
	var lastReply time.Time
	for _, s := range sent {
		perKey[s.IdempotencyKey]++
		perCustomer[s.To] = append(perCustomer[s.To], s)
		if s.At.After(lastReply) {
			lastReply = s.At
		}
	}
	duplicates, outOfOrder, unanswered, strangers := 0, 0, 0, 0
	for _, n := range perKey {
		duplicates += n - 1
	}
	known := map[string]bool{}
	for c := range customers {
		known[customer(c)] = true
		tr := transcripts[c]
		var byTurn []string
		replied := map[string]bool{}
		for _, o := range tr.Turns {
			if o.Status == turn.StatusReplied && !replied[o.TurnID] {
				replied[o.TurnID] = true
				byTurn = append(byTurn, o.TurnID)
			}
		}
		for k := range turnsEach {
			if id := fmt.Sprintf("api:night-%d-%d", c, k); !accepted[id].IsZero() && !replied[id] {
				unanswered++
			}
		}
		// Seq is the order the workflow took the turns in; the customer sent them
		// in k order, each only after the previous one was accepted.
		// A turn is out of order when a turn the customer sent after it was taken
		// before it.
		slices.SortStableFunc(tr.Turns, func(a, b turn.Outcome) int { return a.Seq - b.Seq })
		latest, order := -1, []string{}
		for _, o := range tr.Turns {
			if o.Replayed {
				continue
			}
			var k int
			_, err := fmt.Sscanf(o.TurnID, fmt.Sprintf("api:night-%d-%%d", c), &k)
			require.NoError(t, err, o.TurnID)
			order = append(order, fmt.Sprint(k))
			if k < latest {
				outOfOrder++
			}
			latest = max(latest, k)
		}
		if !slices.IsSorted(order) {
			t.Logf("customer %d: turns taken in the order %s", c, strings.Join(order, " "))
		}
		require.Len(t, perCustomer[customer(c)], turnsEach, "customer %d: replies %+v", c, perCustomer[customer(c)])
	}
	for to, list := range perCustomer {
		if !known[to] && to != "+15559990000" { // the stack canary's own number
			strangers += len(list)
		}
	}
	t.Logf("faults: %s", strings.Join(faultsLog, "; "))
	t.Logf("accepted %d of %d turns (%d refused or dropped answers, retried); replies %d; duplicates %d; out of order %d; unanswered %d; sent to nobody's turn %d",
		len(accepted), total, refused, len(sent), duplicates, outOfOrder, unanswered, strangers)
	t.Logf("load done at %s, last reply at %s, settled at %s", loadDone.Round(100*time.Millisecond), lastReply.Sub(start).Round(100*time.Millisecond), settledAt.Round(100*time.Millisecond))
	require.Equal(t, total, len(accepted))
	require.Zero(t, duplicates, "no reply sent twice")
	require.Zero(t, outOfOrder, "turns answered in order")
	require.Zero(t, unanswered, "nobody left in silence")
	require.Zero(t, strangers, "nothing sent that no turn asked for")
}

func tryTranscriptAt(apiURL, conv string) (turn.Transcript, bool) {
	s := stack{}
	s.API = apiURL
	return s.tryTranscript(conv)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
