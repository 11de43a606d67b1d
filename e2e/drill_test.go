package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/drill"
)

// TestDrill_CI_EveryPromiseHoldsUnderEveryFaultKind runs `switchboard drill
// deploy/drills/ci.yaml` with the binary built from this tree, as an operator
// would: two minutes of load through two apis and two workers while every kind of
// fault the drill knows hits the stack (vendor outages that refuse, answer 5xx and
// hang, an inference spike, a 429 storm, Twilio accepting and hanging while a
// worker is killed, flapping, kill -9 of a worker and an api, NATS and Temporal
// killed and restarted, a maintenance window). NATS, Temporal and the fakes are
// processes of their own, so that the fakes' outbox outlives every kill.
//
// The drill's checker decides from what it recorded; the test reads its JSON
// report and fails on any turn lost, unanswered, answered twice or out of order,
// or any message nobody asked for.
func TestDrill_CI_EveryPromiseHoldsUnderEveryFaultKind(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a two-minute drill on seven processes")
	}
	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	out := filepath.Join(dir, "report")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "drill", "../deploy/drills/ci.yaml", "--out", out)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("switchboard drill ci took %s:\n%s", time.Since(start).Round(time.Second), stdout.String())
	if runErr != nil {
		t.Logf("its progress and errors:\n%s", stderr.String())
		dumpLogs(t, filepath.Join(out, "stack", "logs"))
	}

	files := drill.Files(out, "ci")
	b, err := os.ReadFile(files.JSON)
	require.NoError(t, err, "the drill wrote no report: %v", runErr)
	var r drill.Report
	require.NoError(t, json.Unmarshal(b, &r))
	n := r.Verdict.Counts
	require.Positive(t, n.Accepted, "turns were accepted")
	require.Zero(t, n.Lost, "no accepted turn lost")
	require.Zero(t, n.Unanswered, "every accepted turn answered: %+v", r.Verdict.Problems)
	require.Zero(t, n.Duplicates, "no reply sent twice")
	require.Zero(t, n.OutOfOrder, "turns answered in order")
	require.Zero(t, n.Unasked, "nothing sent that no turn asked for")
	require.True(t, r.Verdict.Pass, "%+v", r.Verdict.Problems)
	require.NoError(t, runErr, "the drill exits 0 when it passes")
	for _, f := range r.Figures.Faults {
		require.Empty(t, f.Error, "the drill caused the fault %q", f.Label)
	}
	require.FileExists(t, files.HTML)
	require.FileExists(t, files.History)
}

// dumpLogs logs the end of each process log of a drill's topology.
func dumpLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		t.Logf("---- %s:\n%s", filepath.Base(f), b)
	}
}
