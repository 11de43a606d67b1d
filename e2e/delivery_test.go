package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// settled waits until every conversation's transcript holds want turns, each with
// an outcome no automation will change any more (replied), and returns them.
func (s *stack) settled(t *testing.T, customers []string, want int, within time.Duration) map[string]turn.Transcript {
	t.Helper()
	out := map[string]turn.Transcript{}
	require.Eventually(t, func() bool {
		for _, c := range customers {
			if tr, ok := out[c]; ok && done(tr, want) {
				continue
			}
			tr, ok := s.tryTranscript(turn.ConversationID("twilio", "sms", c, business))
			if !ok || !done(tr, want) {
				return false
			}
			out[c] = tr
		}
		return true
	}, within, 250*time.Millisecond, "every conversation answered")
	return out
}

func done(tr turn.Transcript, want int) bool {
	if len(tr.Turns) < want || tr.Stuck != nil {
		return false
	}
	replied := map[int]bool{}
	for _, o := range tr.Turns {
		if o.Status == turn.StatusReplied {
			replied[o.Seq] = true
		}
	}
	return len(replied) == want
}

func (s *stack) tryTranscript(conv string) (turn.Transcript, bool) {
	resp, err := http.Get(s.API + "/v1/conversations/" + conv)
	if err != nil {
		return turn.Transcript{}, false
	}
	defer resp.Body.Close()
	var tr turn.Transcript
	return tr, resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&tr) == nil
}

// counter reads one sample of a counter from /metrics (0 when absent).
func counter(t *testing.T, api, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape(t, api))
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

// TestTwilioTakesRepliesThenHangs_NoReplyIsSentTwice: Twilio accepts every message
// and answers only after 10 s, past the 2 s attempt timeout, while turns arrive
// from many customers at once. A timed-out send is delivery unknown: its retry (or
// failover) asks Twilio's message list before it sends, finds the reply there, and
// sends nothing. The breaker opens on the timeouts and later turns leave through
// Vonage. Every customer ends with exactly one reply.
func TestTwilioTakesRepliesThenHangs_NoReplyIsSentTwice(t *testing.T) {
	s := startStack(t, "")
	s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeAcceptThenHang, LatencyMS: 10_000})
	const n = 16
	customers := make([]string, n)
	var wg sync.WaitGroup
	for i := range customers {
		customers[i] = fmt.Sprintf("+1555760%04d", i)
		wg.Go(func() {
			code, body, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customers[i], To: business, Text: "when are you open"})
			require.Equal(t, http.StatusOK, code, body)
		})
	}
	wg.Wait()
	transcripts := s.settled(t, customers, 1, 90*time.Second)

	for _, c := range customers {
		sent := sentTo(s.Outbox, c)
		require.Len(t, sent, 1, "customer %s: %+v", c, sent)
		o := transcripts[c].Turns[len(transcripts[c].Turns)-1]
		require.Equal(t, sent[0].MessageID, o.MessageID, "the transcript names the message the customer got")
		require.Equal(t, sent[0].Vendor, o.CPaaSProvider)
	}
	found := counter(t, s.API, `switchboard_delivery_settled_total{result="found"}`)
	require.Positive(t, found, "some retries found their reply at Twilio instead of sending it again")
	require.Zero(t, counter(t, s.API, `switchboard_delivery_settled_total{result="operator"}`))
	t.Logf("replies found at Twilio after a timeout: %v", found)
}

// TestCPaaSBlip_EveryCustomerIsAnsweredWithoutACommand: both CPaaS vendors go down
// for 10 s while turns keep arriving. The turns of the blip are attempted on both
// (every breaker open: forced), fail, and wait as unanswered. Once the vendors are
// back and a breaker lets calls through, the worker re-sends them by itself: every
// customer gets exactly one reply, no conversation stays stuck or escalated, and
// no operator ran anything.
func TestCPaaSBlip_EveryCustomerIsAnsweredWithoutACommand(t *testing.T) {
	s := startStack(t, "")
	const n = 40
	customers := make([]string, n)
	blipStart, blipEnd := 8, 33 // turns 8 to 32 are sent during the 10 s blip
	var wg sync.WaitGroup
	tick := time.NewTicker(400 * time.Millisecond) // 40 turns over 16 s
	defer tick.Stop()
	for i := range customers {
		<-tick.C
		switch i {
		case blipStart:
			s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeDown})
			s.fault(t, fake.Fault{Provider: "vonage", Mode: fake.ModeDown})
		case blipEnd:
			s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeOK})
			s.fault(t, fake.Fault{Provider: "vonage", Mode: fake.ModeOK})
		}
		customers[i] = fmt.Sprintf("+1555770%04d", i)
		wg.Go(func() {
			code, body, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customers[i], To: business, Text: "where is my order"})
			require.Equal(t, http.StatusOK, code, body)
		})
	}
	wg.Wait()
	transcripts := s.settled(t, customers, 1, 2*time.Minute)
	redriven := 0
	for _, c := range customers {
		require.Len(t, sentTo(s.Outbox, c), 1, "customer %s got exactly one reply", c)
		tr := transcripts[c]
		require.Nil(t, tr.Escalation, "customer %s: the outage's escalation closed once the reply left", c)
		if tr.Turns[len(tr.Turns)-1].Replayed {
			redriven++
		}
	}
	require.Positive(t, redriven, "the blip's turns were answered by the redrive")
	auto := counter(t, s.API, `switchboard_auto_replays_total{result="replayed"}`)
	require.Positive(t, auto)
	require.Equal(t, auto, counter(t, s.API, `switchboard_replays_total{result="replayed"}`), "every replay was the redrive's: no operator ran one")
	t.Logf("turns answered by the redrive after the blip: %d of %d", redriven, n)
}
