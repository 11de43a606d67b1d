package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// The dev policy (deploy/policy.dev.yaml) routes sms through cx-global, cx-europe,
// llm, local for NLU and twilio, vonage for CPaaS; the business's numbers are
// +15550001000 on Twilio and +15550002000 on Vonage.
const vonageBusiness = "+15550002000"

func (s *stack) fault(t *testing.T, f fake.Fault) {
	t.Helper()
	b, _ := json.Marshal(f)
	resp, err := http.Post(s.API+"/dev/faults", "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

type providerStatus struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// scrape reads /metrics.
func scrape(t *testing.T, api string) string {
	t.Helper()
	resp, err := http.Get(api + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// quiet waits until nothing is left that could still send a reply: every consumer
// of the turns stream has handed over and acknowledged every turn (no redelivery
// can come), and the send ledger holds no claim that is pending or unknown (no send
// is in flight or may be retried). It returns the message ids the ledger records as
// sent. A duplicate that would land later needs one of these, so a count taken
// after quiet is final.
func quiet(t *testing.T, natsURL string, within time.Duration) map[string]bool {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var sent map[string]bool
	var why string
	settled := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, turn.TurnsStream)
		if err != nil {
			why = err.Error()
			return false
		}
		consumers := st.ListConsumers(ctx)
		for info := range consumers.Info() {
			if info.Config.Durable == "" {
				continue // an ordered consumer reading the stream (the stuck scan), not a bridge
			}
			if info.NumPending != 0 || info.NumAckPending != 0 {
				why = fmt.Sprintf("consumer %s: %d pending, %d unacknowledged", info.Name, info.NumPending, info.NumAckPending)
				return false
			}
		}
		if err := consumers.Err(); err != nil {
			why = err.Error()
			return false
		}
		kv, err := js.KeyValue(ctx, turn.SendsBucket)
		if err != nil {
			why = err.Error()
			return false
		}
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			why = err.Error()
			return false
		}
		sent = map[string]bool{}
		for key := range keys.Keys() {
			e, err := kv.Get(ctx, key)
			if err != nil {
				why = fmt.Sprintf("ledger entry %s: %v", key, err)
				return false
			}
			var entry struct {
				State     string `json:"state"`
				MessageID string `json:"message_id"`
			}
			if err := json.Unmarshal(e.Value(), &entry); err != nil {
				why = fmt.Sprintf("ledger entry %s: %v", key, err)
				return false
			}
			if entry.State != "sent" {
				why = fmt.Sprintf("ledger entry %s is %s", key, entry.State)
				return false
			}
			sent[entry.MessageID] = true
		}
		return true
	}
	for deadline := time.Now().Add(within); !settled(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v something could still send a reply: %s", within, why)
		}
	}
	return sent
}

func providerState(t *testing.T, api, name string) providerStatus {
	t.Helper()
	resp, err := http.Get(api + "/v1/providers")
	require.NoError(t, err)
	defer resp.Body.Close()
	var list []providerStatus
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	for _, p := range list {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("provider %s not listed", name)
	return providerStatus{}
}

// turnVia sends one SMS from customer and returns the turn's outcome.
func (s *stack) turnVia(t *testing.T, customer, text string) turn.Outcome {
	t.Helper()
	before := len(sentTo(s.Outbox, customer))
	code, _, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: text})
	require.Equal(t, http.StatusOK, code)
	s.waitOutbox(t, customer, before+1)
	tr := s.transcript(t, turn.ConversationID("twilio", "sms", customer, business))
	return tr.Turns[len(tr.Turns)-1]
}

func TestNLUFailover_CXDown_OtherLocation_BothDown_LLM_AllRemoteDown_LocalNLU(t *testing.T) {
	s := startStack(t, "")
	s.fault(t, fake.Fault{Provider: "cx-global", Mode: fake.ModeDown})
	o := s.turnVia(t, "+15557000001", "where is my order")
	require.Equal(t, "cx-europe", o.NLUProvider)
	require.Equal(t, "order.status", o.Intent)

	s.fault(t, fake.Fault{Provider: "cx-europe", Mode: fake.ModeDown})
	o = s.turnVia(t, "+15557000002", "when are you open")
	require.Equal(t, "llm", o.NLUProvider)
	require.Equal(t, "store.hours", o.Intent)
	require.Contains(t, o.Reply, "open Monday")

	s.fault(t, fake.Fault{Provider: "llm", Mode: fake.ModeErrors, Status: 503})
	o = s.turnVia(t, "+15557000003", "track my package")
	require.Equal(t, "local", o.NLUProvider)
	require.Equal(t, "order.status", o.Intent)
	require.Equal(t, turn.StatusReplied, o.Status)
}

func TestTwilioDown_RepliesLeaveThroughVonage_AndNobodyGetsTwo(t *testing.T) {
	s := startStack(t, "")
	s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeDown})
	const customers = 8
	for i := range customers {
		code, _, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: fmt.Sprintf("+1555710%04d", i), To: business, Text: "hello"})
		require.Equal(t, http.StatusOK, code)
	}
	for i := range customers {
		sent := s.waitOutbox(t, fmt.Sprintf("+1555710%04d", i), 1)
		require.Equal(t, "vonage", sent[0].Vendor)
		require.Equal(t, vonageBusiness, sent[0].From, "the reply leaves from the business's Vonage number")
	}
	// Count only once nothing is left that could still send: every turn is settled
	// as replied with the id of the one message its customer got (its Send activity
	// completed and will not run again), no turn waits in JetStream for a
	// redelivery, and the send ledger holds no claim still in flight.
	first := map[string]string{}
	for i := range customers {
		first[fmt.Sprintf("+1555710%04d", i)] = sentTo(s.Outbox, fmt.Sprintf("+1555710%04d", i))[0].MessageID
	}
	require.Eventually(t, func() bool {
		for c, id := range first {
			tr, ok := s.tryTranscript(turn.ConversationID("twilio", "sms", c, business))
			if !ok || tr.Pending != 0 || len(tr.Turns) != 1 || tr.Turns[0].Status != turn.StatusReplied || tr.Turns[0].MessageID != id {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "every turn settled as replied with the message its customer got")
	sent := quiet(t, s.NATS, 30*time.Second)
	per := map[string]int{}
	for _, m := range s.Outbox.List() {
		per[m.To]++
		require.True(t, sent[m.MessageID], "message %s to %s is not the one the send ledger recorded", m.MessageID, m.To)
	}
	require.Len(t, per, customers)
	for to, n := range per {
		require.Equal(t, 1, n, "customer %s got %d replies", to, n)
	}
	require.Equal(t, "open", providerState(t, s.API, "twilio").State, "the breaker opened, so later turns skip Twilio")
	m := scrape(t, s.API)
	require.Contains(t, m, `switchboard_breaker_open{provider="twilio",state="open"} 1`)
	require.Contains(t, m, `switchboard_provider_attempts_total{outcome="unavailable",provider="twilio"}`)
	require.Contains(t, m, `switchboard_turns_processed_total{status="replied"} 8`)
}

func TestTwilioFlapping_BreakerOpens_AndProbesBringItBack(t *testing.T) {
	s := startStack(t, "")
	s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeErrors, Status: 503, Rate: 1})
	for i := range 3 {
		s.turnVia(t, fmt.Sprintf("+1555720%04d", i), "hello")
	}
	require.Eventually(t, func() bool { return providerState(t, s.API, "twilio").State == "open" }, 5*time.Second, 50*time.Millisecond)
	s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeOK})
	// Probes run every 2 s while open; two good probes close it (half_open_probes: 2).
	require.Eventually(t, func() bool { return providerState(t, s.API, "twilio").State == "closed" }, 15*time.Second, 100*time.Millisecond)
	o := s.turnVia(t, "+15557209999", "hello")
	require.Equal(t, "twilio", o.CPaaSProvider)
}

func TestSlowNLU_IsHedgedOver_AndTripsTheBreakerAsSlow(t *testing.T) {
	s := startStack(t, "")
	// attempt_timeout is 2s in the dev policy, and hedge delays derive from the
	// providers' latency (100 ms at least): an answer in 1.3 s comes too late.
	s.fault(t, fake.Fault{Provider: "cx-global", Mode: fake.ModeSlow, LatencyMS: 1300})
	for i := range 3 {
		o := s.turnVia(t, fmt.Sprintf("+1555730%04d", i), "hello")
		require.Equal(t, "cx-europe", o.NLUProvider, "the hedge beside the slow provider answers first")
		require.Len(t, o.Hedged, 1)
		require.Equal(t, "cx-global", o.Hedged[0].Provider)
	}
	st := providerState(t, s.API, "cx-global")
	require.Equal(t, "open", st.State)
	require.Contains(t, st.Reason, "hedged over", "a hedged-over call is a slow call")
	o := s.turnVia(t, "+15557309999", "hello")
	require.Equal(t, "cx-europe", o.NLUProvider, "a tripped provider is skipped without spending its timeout")
	require.Empty(t, o.Hedged)
}

func TestPermanentError_DoesNotFailOver(t *testing.T) {
	s := startStack(t, "")
	s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeErrors, Status: 400, Rate: 1})
	customer := "+15557400001"
	code, _, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "hello"})
	require.Equal(t, http.StatusOK, code)
	conv := turn.ConversationID("twilio", "sms", customer, business)
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.API + "/v1/conversations/" + conv)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var tr turn.Transcript
		return json.NewDecoder(resp.Body).Decode(&tr) == nil && len(tr.Turns) == 1
	}, 20*time.Second, 100*time.Millisecond)
	tr := s.transcript(t, conv)
	require.Equal(t, turn.StatusFailed, tr.Turns[0].Status)
	require.Contains(t, tr.Turns[0].Reason, "rejected")
	require.Empty(t, sentTo(s.Outbox, customer), "Vonage must not be tried for a request Twilio rejected")
	require.Equal(t, "closed", providerState(t, s.API, "twilio").State, "a rejection says nothing about Twilio's health")
}

func TestPolicyHotReload_BadFileKeepsTheLastGoodPolicy(t *testing.T) {
	dir := t.TempDir()
	s := startStack(t, dir)
	path := dir + "/policy.yaml"
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(good), "cpaas: [twilio, vonage]}", "cpaas: [twilio, vonnage]}", 1)), 0o600))
	var status map[string]any
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.API + "/v1/policy")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		status = nil
		return json.NewDecoder(resp.Body).Decode(&status) == nil && status["error"] != nil
	}, 10*time.Second, 100*time.Millisecond)
	require.Contains(t, status["error"], "vonnage")
	require.Contains(t, status["error"], "channels.sms.cpaas")
	m := scrape(t, s.API)
	require.Contains(t, m, "switchboard_policy_file_valid 0")
	require.Contains(t, m, `switchboard_policy_reloads_total{result="refused"}`)

	// Turns are still routed by the last good policy: Vonage takes over from Twilio.
	s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeDown})
	o := s.turnVia(t, "+15557500001", "hello")
	require.Equal(t, "vonage", o.CPaaSProvider)

	require.NoError(t, os.WriteFile(path, good, 0o600))
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.API + "/v1/policy")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		status = nil
		return json.NewDecoder(resp.Body).Decode(&status) == nil && status["error"] == nil
	}, 10*time.Second, 100*time.Millisecond)
}
