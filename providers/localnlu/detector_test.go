package localnlu_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/nlu/nlutest"
)

func TestDetectorContract(t *testing.T) {
	agent := loadDemoAgent(t)
	d := &localnlu.Detector{Agent: agent}
	// The contract expects the agent's no-match reply on no match. The local NLU
	// deliberately answers no match with an empty reply (the workflow sends its
	// canned reply), so the harness is given a copy of the agent whose no-match
	// reply is empty: every other expectation is the demo agent's.
	expect := *agent
	expect.NoMatchReply = ""
	nlutest.Run(t, nlutest.Harness{
		Detector: d,
		Agent:    &expect,
		Faults:   nil, // nothing to break: the fault scenarios are skipped
		Provider: d.ProviderName(),
	})
}

func TestDetectorMatchesWithTheIntentsReply(t *testing.T) {
	agent := loadDemoAgent(t)
	d := &localnlu.Detector{Agent: agent}

	res, err := d.Detect(t.Context(), nlu.Query{Text: "can you track my parcel"})

	require.NoError(t, err)
	in, _ := agent.Intent("order.status")
	require.Equal(t, nlu.Result{Intent: "order.status", Reply: in.Reply, Confidence: res.Confidence}, res)
	require.GreaterOrEqual(t, res.Confidence, float32(localnlu.MatchThreshold))
}

func TestDetectorNoMatchHasNoReply(t *testing.T) {
	d := &localnlu.Detector{Agent: loadDemoAgent(t)}
	for _, text := range []string{"I want to return a jumper", "", "?!"} {
		res, err := d.Detect(t.Context(), nlu.Query{SessionID: "s1", Text: text})
		require.NoError(t, err)
		require.Equal(t, nlu.Result{Intent: turn.NoMatch}, res, "%q", text)
	}
}

func TestDetectorFailsOnlyWhenTheCallerIsDone(t *testing.T) {
	d := &localnlu.Detector{Agent: loadDemoAgent(t), Name: "cache"}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := d.Detect(ctx, nlu.Query{Text: "hi"})

	require.ErrorIs(t, err, providers.ErrTimeout)
	require.ErrorIs(t, err, context.Canceled)
	var pe *providers.Error
	require.True(t, errors.As(err, &pe))
	require.Equal(t, "cache", pe.Provider)
}

func TestDetectorWithoutAgentIsUnavailable(t *testing.T) {
	d := &localnlu.Detector{}
	require.Equal(t, "localnlu", d.ProviderName())

	_, err := d.Detect(t.Context(), nlu.Query{Text: "hi"})

	require.ErrorIs(t, err, providers.ErrUnavailable)
	require.False(t, providers.Permanent(err))
}
