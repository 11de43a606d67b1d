package localnlu_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
)

func TestProbeIsHealthyInProcess(t *testing.T) {
	d := &localnlu.Detector{Agent: loadDemoAgent(t)}
	require.NoError(t, d.Probe(t.Context()))
}

func TestProbeWithoutAnAgentFailsAsDetectDoes(t *testing.T) {
	d := &localnlu.Detector{Name: "local-eu"}

	err := d.Probe(t.Context())

	require.ErrorIs(t, err, providers.ErrUnavailable)
	require.ErrorContains(t, err, "local-eu")
}
