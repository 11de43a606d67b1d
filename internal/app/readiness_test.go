package app

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/devstack/devnats"
)

func TestReadiness_ABridgeConfigurationFault_FailsWithTheReason(t *testing.T) {
	ns, err := devnats.Start(devnats.Config{Port: devnats.RandomPort})
	require.NoError(t, err)
	t.Cleanup(ns.Stop)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	fault := errors.New("Temporal refuses turns as misconfigured: search attribute SwitchboardChannel is not defined")
	// No Temporal client: the fault is reported before Temporal is asked.
	ready := readiness(nc, nil, "q", "worker-1", func() error { return fault })
	err = ready(context.Background())
	require.ErrorIs(t, err, fault)
	require.ErrorContains(t, err, "bridge: Temporal refuses turns as misconfigured")
}
