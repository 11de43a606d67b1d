package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// TestProcesses_BurstsAndKillNineOfAWorker_EveryTranscriptInStreamOrder runs the
// production roles as processes (`dev --only-infra`, one `api`, two `worker`s).
// Every customer sends bursts of back-to-back turns, each POST as soon as the one
// before was answered 202, so JetStream stores a customer's turns in the order they
// were sent; meanwhile one worker is killed with SIGKILL, with turns in hand. Each
// conversation's transcript (the order its workflow processed the turns) must then
// hold every turn, in the order JetStream stored them.
func TestProcesses_BurstsAndKillNineOfAWorker_EveryTranscriptInStreamOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs four processes")
	}
	const (
		conversations = 24
		bursts        = 3
		burst         = 5
		turnsEach     = bursts * burst
	)
	texts := []string{"hello", "where is my order", "when are you open", "track my package", "thanks"}
	customer := func(c int) string { return fmt.Sprintf("+1555980%04d", c) }

	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	dataDir := filepath.Join(dir, "data")
	infra := startProcess(t, dir, "infra", bin, nil, "dev", "--only-infra", "--data-dir", dataDir,
		"--http-addr", "127.0.0.1:0", "--nats-port", "-1", "--temporal-port", "-1", "--no-ui",
		"--ops-token", opsToken, "--agent-token", agentToken, "--log-level", "warn")
	infra.waitFor(t, regexp.MustCompile(`switchboard infra ready: .* dev (http://\S+)`), 2*time.Minute)
	env := readEnvFile(t, filepath.Join(dataDir, "infra.env"))
	ready := regexp.MustCompile(`msg="switchboard ready" role=(?:api|worker) http=(http://\S+)`)
	api := startProcess(t, dir, "api", bin, env, "api", "--http-addr", "127.0.0.1:0", "--instance", "api")
	var workers [2]*process
	for i := range workers {
		name := fmt.Sprintf("worker%d", i+1)
		workers[i] = startProcess(t, dir, name, bin, env, "worker", "--http-addr", "127.0.0.1:0", "--instance", name)
	}
	apiURL := api.waitFor(t, ready, time.Minute)
	var workerURL [2]string
	for i, w := range workers {
		workerURL[i] = w.waitFor(t, ready, time.Minute)
	}
	for _, u := range append([]string{apiURL}, workerURL[:]...) {
		require.Eventually(t, func() bool { return getStatus(t, u+"/readyz") == http.StatusOK }, 30*time.Second, 200*time.Millisecond, "%s/readyz", u)
	}

	// send posts one turn and returns once JetStream has stored it (202).
	send := func(c, k int) error {
		body := fmt.Sprintf(`{"message_id":"order-%d-%02d","channel":"sms","from":%q,"to":%q,"text":%q}`, c, k, customer(c), business, texts[k%len(texts)])
		var last error
		for range 10 {
			resp, err := http.Post(apiURL+"/v1/turns", "application/json", strings.NewReader(body))
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					return nil
				}
				err = fmt.Errorf("%s: %s", resp.Status, b)
			}
			last = err
			time.Sleep(200 * time.Millisecond)
		}
		return fmt.Errorf("turn %d of conversation %d not accepted: %w", k, c, last)
	}
	transcript := func(c int) (turn.Transcript, int) {
		var tr turn.Transcript
		resp, err := http.Get(apiURL + "/v1/conversations/" + turn.ConversationID(turn.VendorAPI, "sms", customer(c), business))
		require.NoError(t, err)
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&tr))
		}
		return tr, resp.StatusCode
	}
	processed := func() int {
		n := 0
		for c := range conversations {
			tr, _ := transcript(c)
			n += len(tr.Turns)
		}
		return n
	}

	// All customers at once, each a burst of back-to-back turns, then a short pause.
	errs := make(chan error, conversations)
	var wg sync.WaitGroup
	for c := range conversations {
		wg.Go(func() {
			for b := range bursts {
				for k := b * burst; k < (b+1)*burst; k++ {
					if err := send(c, k); err != nil {
						errs <- err
						return
					}
				}
				time.Sleep(time.Duration(300+25*c) * time.Millisecond)
			}
		})
	}
	// Kill a worker with turns in hand, once both have handed turns over.
	require.Eventually(t, func() bool {
		return turnsProcessed(t, workerURL[0]) > 0 && turnsProcessed(t, workerURL[1]) > 0
	}, time.Minute, 20*time.Millisecond, "both workers process turns")
	victim := workers[0]
	require.NoError(t, victim.Kill())
	atKill := processed()
	t.Logf("killed %s with %d of %d turns processed", victim.Name, atKill, conversations*turnsEach)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Less(t, atKill, conversations*turnsEach, "turns were still arriving when the worker died")

	// The dead worker's turns come back after AckWait (30 s), its workflow tasks
	// after their timeout (10 s).
	require.Eventually(t, func() bool { return processed() == conversations*turnsEach }, 3*time.Minute, time.Second,
		"every turn processed (%d of %d)", processed(), conversations*turnsEach)
	nc, err := nats.Connect(env["SWITCHBOARD_NATS_URL"])
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bridgeIdle(t, js) }, 30*time.Second, 250*time.Millisecond)

	outOfOrder := 0
	for c := range conversations {
		tr, code := transcript(c)
		require.Equal(t, http.StatusOK, code)
		var got, want []string
		for k := range turnsEach {
			want = append(want, fmt.Sprintf("api:order-%d-%02d", c, k))
		}
		for i, o := range tr.Turns {
			got = append(got, o.TurnID)
			require.Equal(t, i+1, o.Seq)
		}
		if !assertSameOrder(t, c, want, got) {
			outOfOrder++
		}
	}
	require.Zero(t, outOfOrder, "conversations with turns out of order")
}

func assertSameOrder(t *testing.T, c int, want, got []string) bool {
	t.Helper()
	if fmt.Sprint(want) == fmt.Sprint(got) {
		return true
	}
	t.Errorf("conversation %d: processed in the order\n  %v\nstored in the order\n  %v", c, got, want)
	return false
}
