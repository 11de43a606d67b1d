package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/devstack"
	"github.com/switchboard-cc/switchboard/internal/devstack/devnats"
	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/workflows"
)

// serveStack runs the service (app.Run, as `switchboard serve` does) against NATS and
// Temporal servers the test controls, so the test can take Temporal away.
type serveStack struct {
	stack
	nats     *devnats.Server
	temporal *devtemporal.Server
	tcfg     devtemporal.Config
	cfg      app.Config
}

func startServeStack(t *testing.T) *serveStack {
	t.Helper()
	ns, err := devnats.Start(devnats.Config{Port: devnats.RandomPort})
	require.NoError(t, err)
	t.Cleanup(ns.Stop)
	tcfg := devtemporal.Config{
		FrontendPort: devtemporal.RandomPort, DisableUI: true, LogLevel: "error",
		DBFile: filepath.Join(t.TempDir(), "temporal.db"), SearchAttributes: workflows.SearchAttributes(),
	}
	ts, err := devtemporal.Start(context.Background(), tcfg)
	require.NoError(t, err)
	// Keep the port, so a restarted server is found at the same address.
	_, port, err := net.SplitHostPort(ts.FrontendAddr())
	require.NoError(t, err)
	tcfg.FrontendPort, err = strconv.Atoi(port)
	require.NoError(t, err)
	s := &serveStack{nats: ns, temporal: ts, tcfg: tcfg}
	t.Cleanup(func() { _ = s.temporal.Stop() })

	demo, err := localnlu.ParseAgent(agent.Demo)
	require.NoError(t, err)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policyFile, deploy.DevPolicy, 0o600))
	pol, err := routing.Load(policyFile)
	require.NoError(t, err)
	fakes, err := devstack.StartFakes(pol, demo, testmsg.DevTwilioAuthToken)
	require.NoError(t, err)
	t.Cleanup(fakes.Stop)
	s.cfg = app.Config{
		HTTPAddr: "127.0.0.1:0", NATSURL: ns.ClientURL(), TemporalAddr: ts.FrontendAddr(),
		VonageSignatureSecret: testmsg.DevVonageSignatureSecret, PolicyFile: policyFile,
	}
	fakes.Apply(&s.cfg)
	s.cfg.API.Tokens = auth.FromLists(opsToken, agentToken, ingressToken) // POST /v1/turns needs a token
	s.cfg.Bridge.MinBackoff, s.cfg.Bridge.MaxBackoff = 200*time.Millisecond, time.Second
	s.Outbox, s.Faults = fakes.Outbox, fakes.Faults
	s.API, s.PublicURL, s.stop = s.startInstance(t, "w1")
	s.signer = testmsg.DevSigner(s.PublicURL)
	return s
}

// startInstance runs one more service process (API, bridge and worker) against the
// stack's NATS and Temporal, as a replica would, and returns its API URL.
func (s *serveStack) startInstance(t *testing.T, instance string) (api, publicURL string, stop func()) {
	t.Helper()
	cfg := s.cfg
	cfg.Instance = instance
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan app.Ready, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, testLogger(), func(r app.Ready) { ready <- r }) }()
	select {
	case r := <-ready:
		api, publicURL = "http://"+r.HTTPAddr, r.PublicURL
	case err := <-done:
		cancel()
		t.Fatalf("service %s did not start: %v", instance, err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("service %s did not start within 30s", instance)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("service %s did not stop within 30s", instance)
		}
	}
	t.Cleanup(stop)
	return api, publicURL, stop
}

func TestTemporalDown_TurnsWaitInJetStream_AndAreAnsweredInOrderWhenItReturns(t *testing.T) {
	s := startServeStack(t)
	customer := "+15556660001"
	send := func(text string) {
		code, body, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: text})
		require.Equal(t, http.StatusOK, code, body)
	}
	send("hello")
	s.waitOutbox(t, customer, 1)
	require.Equal(t, http.StatusOK, getStatus(t, s.API+"/readyz"))

	require.NoError(t, s.temporal.Stop())
	require.Equal(t, http.StatusServiceUnavailable, getStatus(t, s.API+"/readyz"), "not ready without Temporal")
	require.Equal(t, http.StatusOK, getStatus(t, s.API+"/healthz"), "but alive")
	// Ingress needs only JetStream: turns are still accepted.
	send("where is my order")
	send("when are you open")
	send("talk to a human")
	time.Sleep(2 * time.Second)
	require.Len(t, sentTo(s.Outbox, customer), 1, "nothing can be answered while Temporal is down")

	ts, err := devtemporal.Start(context.Background(), s.tcfg)
	require.NoError(t, err)
	s.temporal = ts
	sent := s.waitOutbox(t, customer, 4)
	require.Eventually(t, func() bool { return getStatus(t, s.API+"/readyz") == http.StatusOK }, 20*time.Second, 200*time.Millisecond)
	require.Len(t, sent, 4)
	require.Contains(t, sent[1].Body, "follow your order")
	require.Contains(t, sent[2].Body, "open Monday")

	tr := s.transcript(t, turn.ConversationID("twilio", "sms", customer, business))
	require.Len(t, tr.Turns, 4)
	for i, want := range []string{"hello", "where is my order", "when are you open", "talk to a human"} {
		require.Equal(t, want, tr.Turns[i].Text, "turns are handled in arrival order")
		require.Equal(t, i+1, tr.Turns[i].Seq)
	}
}

func TestPoisonTurn_IsDeadLetteredOnce_AndTheStreamMovesOn(t *testing.T) {
	s := startServeStack(t)
	nc, err := nats.Connect(s.nats.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()

	_, err = js.Publish(ctx, turn.TurnSubject("garbage"), []byte("{not json"))
	require.NoError(t, err)
	_, err = js.Publish(ctx, turn.TurnSubject("incomplete"), []byte(`{"id":"api:x","conversation_id":"incomplete"}`))
	require.NoError(t, err)

	customer := "+15556660002"
	code, _, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "hello"})
	require.Equal(t, http.StatusOK, code)
	s.waitOutbox(t, customer, 1)

	dl, err := js.Stream(ctx, turn.DeadLetterStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := dl.Info(ctx)
		return err == nil && info.State.Msgs == 2
	}, 10*time.Second, 100*time.Millisecond)
	// The two poison turns may travel in different partitions: either may come first.
	byData := map[string]string{}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := dl.GetMsg(ctx, seq)
		require.NoError(t, err)
		byData[string(m.Data)] = m.Header.Get("Switchboard-Error")
	}
	require.Contains(t, byData, "{not json")
	require.Contains(t, byData["{not json"], "malformed turn")
	require.Contains(t, byData, `{"id":"api:x","conversation_id":"incomplete"}`)

	require.Eventually(t, func() bool {
		for _, conv := range []string{"garbage", "incomplete"} {
			cons, err := js.Consumer(ctx, turn.TurnsStream, turn.PartitionConsumer(turn.PartitionOf(conv)))
			if err != nil {
				return false
			}
			info, err := cons.Info(ctx)
			if err != nil || info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 100*time.Millisecond, "poison is terminated, not redelivered")
}

func TestTwoWorkers_ShareABreakerTripThroughNATSKV(t *testing.T) {
	s := startServeStack(t)
	api2, _, _ := s.startInstance(t, "w2")
	s.fault(t, fake.Fault{Provider: "cx-global", Mode: fake.ModeDown})
	for i := range 6 {
		s.turnVia(t, fmt.Sprintf("+1555770%04d", i), "hello")
		if providerState(t, s.API, "cx-global").State == "open" || providerState(t, api2, "cx-global").State == "open" {
			break
		}
	}
	// Whichever instance tripped first, the other follows within a second.
	require.Eventually(t, func() bool {
		return providerState(t, s.API, "cx-global").State == "open" && providerState(t, api2, "cx-global").State == "open"
	}, time.Second, 20*time.Millisecond)
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}
