package app

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// A provider's own probe_interval passed validation but never reached the health
// registry, which read defaults.probe_interval once. The registry's settings, at
// start and at every reload, now carry each provider's.
func TestProbeInterval_AProvidersOwnReachesTheHealthRegistry(t *testing.T) {
	src := strings.Replace(string(deploy.DevPolicy), "twilio:    {kind: twilio}", "twilio:    {kind: twilio, probe_interval: 30s}", 1)
	require.NotEqual(t, string(deploy.DevPolicy), src)
	pol, err := routing.ParseFile("policy.yaml", []byte(src))
	require.NoError(t, err)
	s := breakerSettings(pol)
	require.Equal(t, 30*time.Second, s["twilio"].ProbeInterval)
	require.Equal(t, 2*time.Second, s["vonage"].ProbeInterval, "the others: defaults.probe_interval")
}
