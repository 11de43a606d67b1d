package workers

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/webhook"
	"github.com/switchboard-cc/switchboard/workflows"
)

// clients are the vendors plus NLU detectors by name.
type clients struct {
	senderSet
	detectors map[string]nlu.Detector
}

func (c clients) Detector(name string) (nlu.Detector, bool) {
	d, ok := c.detectors[name]
	return d, ok
}

// The dev policy's chat channel, run through the real activities: its routing, the
// local NLU, the send ledger and the real Twilio, Vonage and webhook clients, each
// against its fake on loopback.
func TestConversation_AJSONAPIChatTurn_IsAnsweredThroughTheChatWebhook_AndNoSMSLeaves(t *testing.T) {
	v := newVendors(t)
	secret := []byte("worker-test-chat-secret-000")
	rc := httptest.NewServer(fake.NewChatReceiver(secret, v.outbox, v.faults, "webchat"))
	t.Cleanup(rc.Close)
	wh, err := webhook.New(webhook.Config{Name: "webchat", URL: rc.URL + "/replies", Secret: secret})
	require.NoError(t, err)
	v.set["webchat"] = wh
	demo, err := localnlu.ParseAgent(agent.Demo)
	require.NoError(t, err)
	set := clients{senderSet: v.set, detectors: map[string]nlu.Detector{"local": &localnlu.Detector{Agent: demo, Name: "local"}}}

	js := newJetStream(t)
	kv, err := js.KeyValue(context.Background(), turn.SendsBucket)
	require.NoError(t, err)
	pol := loadDevPolicy(t)
	a := &Activities{
		Router: PolicyRouter{
			Policy:    func() *routing.Policy { return pol },
			Available: func(string) bool { return true },
			Has: func(p string) bool {
				_, d := set.Detector(p)
				_, s := set.Sender(p)
				return d || s
			},
		},
		Providers: set, Ledger: NewSendLedger(kv), Events: js,
	}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterActivityWithOptions(a.Route, activity.RegisterOptions{Name: workflows.ActivityRoute})
	env.RegisterActivityWithOptions(a.Detect, activity.RegisterOptions{Name: workflows.ActivityDetect})
	env.RegisterActivityWithOptions(a.PublishOutcome, activity.RegisterOptions{Name: workflows.ActivityPublish})
	env.RegisterActivityWithOptions(a.Escalate, activity.RegisterOptions{Name: workflows.ActivityEscalate})
	// The test server gives the workflow no FirstRunID, so its keys have an empty
	// epoch ("conv//1"), which a NATS KV key cannot hold: stand one in.
	env.RegisterActivityWithOptions(func(ctx context.Context, in workflows.SendInput) (workflows.SendOutput, error) {
		in.Message.IdempotencyKey = strings.Replace(in.Message.IdempotencyKey, "//", "/test-run/", 1)
		return a.Send(ctx, in)
	}, activity.RegisterOptions{Name: workflows.ActivitySend})
	tt := turn.Turn{
		ID: "api:w1", Vendor: turn.VendorAPI, Channel: turn.ChannelChat, From: "+15552220001", To: "+15550001000",
		Text: "when are you open", ReceivedAt: time.Now().UTC(),
	}
	tt.ConversationID = turn.ConversationID(turn.VendorAPI, tt.Channel, tt.From, tt.To)
	var updateErr error
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateTurn, tt.ID, &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { updateErr = err }, OnComplete: func(_ any, err error) { updateErr = err },
		}, tt)
	}, time.Second)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, workflows.NewState(tt, workflows.Options{}))
	require.NoError(t, updateErr)

	v1, err := env.QueryWorkflow(workflows.QueryTranscript)
	require.NoError(t, err)
	var tr turn.Transcript
	require.NoError(t, v1.Get(&tr))
	require.Len(t, tr.Turns, 1)
	out := tr.Turns[0]
	require.Equal(t, turn.StatusReplied, out.Status, out.Reason)
	require.Equal(t, "webchat", out.CPaaSProvider)
	require.Equal(t, "local", out.NLUProvider)

	sent := v.outbox.List()
	require.Len(t, sent, 1, "one reply, and no SMS: %+v", sent)
	got := sent[0]
	require.Equal(t, "webchat", got.Vendor)
	require.Equal(t, "chat", got.Channel)
	require.Equal(t, tt.From, got.To)
	require.Equal(t, tt.To, got.From, "the reply leaves from the address the customer wrote to")
	require.Equal(t, out.Reply, got.Body)
	require.Equal(t, out.MessageID, got.MessageID, "the transcript names the receiver's id for the reply")
	require.Equal(t, 1, got.Deliveries)
	require.True(t, strings.HasPrefix(got.IdempotencyKey, tt.ConversationID+"/") && strings.HasSuffix(got.IdempotencyKey, "/1"), got.IdempotencyKey)
	require.Equal(t, tt.ConversationID, got.ConversationID)
	require.Equal(t, tt.ID, got.TurnID, "the backend learns which of its messages the reply answers")

	// The ledger holds the receipt under the reply's key: a replay sends nothing.
	in := workflows.SendInput{Provider: "webchat", Message: turn.Message{Channel: "chat", From: tt.To, To: tt.From, Body: out.Reply, IdempotencyKey: got.IdempotencyKey}}
	r, err := send(t, a, in, 5*time.Second)
	require.NoError(t, err)
	require.True(t, r.Reused)
	require.Equal(t, 1, v.outbox.List()[0].Deliveries, "nothing was posted again")
}
