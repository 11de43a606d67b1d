package bridge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

func TestBridgeBackoff_DoublesUpToTheCap(t *testing.T) {
	min, max := 500*time.Millisecond, 15*time.Second
	require.Equal(t, min, backoff(min, max, 1))
	require.Equal(t, time.Second, backoff(min, max, 2))
	require.Equal(t, 8*time.Second, backoff(min, max, 5))
	require.Equal(t, max, backoff(min, max, 6))
	require.Equal(t, max, backoff(min, max, 1000))
}

func TestBridgeErrors_OutagesAndConfigFaultsWait_OnlyValidatorRejectionsAreDeadLettered(t *testing.T) {
	outages := []error{
		serviceerror.NewUnavailable("frontend down"),
		fmt.Errorf("update: %w", context.DeadlineExceeded),
		serviceerror.NewResourceExhausted(0, "busy"),
	}
	for _, err := range outages {
		require.True(t, isTransient(err), err)
		require.False(t, isRejection(err), err)
	}
	rejection := fmt.Errorf("update: %w", temporal.NewApplicationError("text is required", ""))
	require.True(t, isRejection(rejection))
	require.False(t, isConfigFault(rejection))
	faults := []error{
		serviceerror.NewInvalidArgument("search attribute SwitchboardChannel is not defined"),
		serviceerror.NewPermissionDenied("no", ""),
		serviceerror.NewNamespaceNotFound("default"),
	}
	for _, err := range faults {
		require.True(t, isConfigFault(err), err)
		require.False(t, isRejection(err), err)
		require.False(t, isTransient(err), err)
	}
	require.False(t, isTransient(errors.New("something else")))
}

func TestBridgeConfig_NamesTheBadField(t *testing.T) {
	c := Config{}
	require.ErrorContains(t, c.Validate(), "TaskQueue")
	c = Config{TaskQueue: "q", CallTimeout: 20 * time.Second, AckWait: 30 * time.Second}
	require.ErrorContains(t, c.Validate(), "AckWait")
}
