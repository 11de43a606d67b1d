package api_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/devstack/devnats"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/health"
)

func providersServer(t *testing.T, reg health.Registry) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(api.ProvidersHandler(reg))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func localRegistry(t *testing.T) health.Registry {
	t.Helper()
	reg, err := health.NewRegistry(nil, health.Options{Settings: map[string]health.BreakerSettings{
		"dialogflowcx": {}, "twilio": {ConsecutiveFailures: 2},
	}})
	require.NoError(t, err)
	return reg
}

func TestGetProvidersListsEveryBreaker(t *testing.T) {
	reg := localRegistry(t)
	down := providers.Classify("twilio", providers.ErrUnavailable, 503, errors.New("down"))
	reg.Record("twilio", 40*time.Millisecond, down)
	reg.Record("twilio", 60*time.Millisecond, down)
	srv := providersServer(t, reg)

	status, body := call(t, srv, "GET", "/v1/providers", "")
	require.Equal(t, http.StatusOK, status, body)
	var list []health.Status
	require.NoError(t, json.Unmarshal([]byte(body), &list), body)
	require.Len(t, list, 2)
	require.Equal(t, "dialogflowcx", list[0].Name)
	require.Equal(t, health.StateClosed, list[0].State)
	tw := list[1]
	require.Equal(t, "twilio", tw.Name)
	require.Equal(t, health.StateOpen, tw.State)
	require.Equal(t, "2 consecutive failures: provider unavailable", tw.Reason)
	require.Equal(t, health.ModeAuto, tw.Override)
	require.Equal(t, 2, tw.Calls)
	require.InDelta(t, 1.0, tw.ErrorRate, 1e-9)
	require.Equal(t, 60*time.Millisecond, tw.P95)
	require.Contains(t, body, `"p95_ms":60`, "latency is in milliseconds on the wire")
	require.Contains(t, body, `"state":"open"`)
}

func TestPostOverrideForcesTheBreaker(t *testing.T) {
	reg := localRegistry(t)
	srv := providersServer(t, reg)

	status, body := call(t, srv, "POST", "/v1/providers/dialogflowcx/override", `{"state":"open"}`)
	require.Equal(t, http.StatusOK, status, body)
	var s health.Status
	require.NoError(t, json.Unmarshal([]byte(body), &s))
	require.Equal(t, health.StateOpen, s.State)
	require.Equal(t, health.ModeOpen, s.Override)
	require.Equal(t, "operator override", s.Reason)
	require.False(t, reg.Allow("dialogflowcx"))

	status, body = call(t, srv, "POST", "/v1/providers/dialogflowcx/override", `{"state":"auto"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `"override":"auto"`)
	require.True(t, reg.Allow("dialogflowcx"))
}

func TestPostOverrideRejectsBadRequestsNamingTheProblem(t *testing.T) {
	srv := providersServer(t, localRegistry(t))
	for _, tc := range []struct {
		name, path, body string
		status           int
		mentions         string
	}{
		{"unknown provider", "/v1/providers/nope/override", `{"state":"open"}`, 404, `unknown provider \"nope\"`},
		{"unknown state", "/v1/providers/twilio/override", `{"state":"opn"}`, 400, `\"state\" must be open, closed or auto, got \"opn\"`},
		{"no state", "/v1/providers/twilio/override", `{}`, 400, `\"state\" is required`},
		{"not JSON", "/v1/providers/twilio/override", `state=open`, 400, "JSON object"},
		{"unknown field", "/v1/providers/twilio/override", `{"state":"open","until":"tomorrow"}`, 400, `unknown field \"until\"`},
		{"two objects", "/v1/providers/twilio/override", `{"state":"open"}{"state":"closed"}`, 400, "single JSON object"},
		{"too large", "/v1/providers/twilio/override", `{"state":"open","x":"` + strings.Repeat("a", 2000) + `"}`, 413, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, srv, "POST", tc.path, tc.body)
			require.Equal(t, tc.status, status, body)
			require.Contains(t, body, tc.mentions)
		})
	}
	status, _ := call(t, srv, "GET", "/v1/providers/twilio/override", "")
	require.Equal(t, http.StatusMethodNotAllowed, status)
}

func TestPostOverrideAnswers503WhenTheOverrideCannotBeStored(t *testing.T) {
	s, err := devnats.Start(devnats.Config{Port: devnats.RandomPort})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := health.EnsureBucket(t.Context(), js, health.BucketConfig{MemoryStorage: true})
	require.NoError(t, err)
	reg, err := health.NewRegistry(kv, health.Options{Settings: map[string]health.BreakerSettings{"twilio": {}}})
	require.NoError(t, err)
	srv := providersServer(t, reg)

	status, body := call(t, srv, "POST", "/v1/providers/twilio/override", `{"state":"open"}`)
	require.Equal(t, http.StatusOK, status, body)

	nc.Close()
	status, body = call(t, srv, "POST", "/v1/providers/twilio/override", `{"state":"closed"}`)
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.Contains(t, body, "override not stored")
	require.False(t, reg.Allow("twilio"), "an override that was not stored is not in force")
}
