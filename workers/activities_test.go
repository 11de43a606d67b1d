package workers

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/health"
	"github.com/switchboard-cc/switchboard/providers/messaging"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
	"github.com/switchboard-cc/switchboard/workflows"
)

// vendors are the real Twilio and Vonage clients, each talking to its fake on
// loopback, sharing one outbox as the customer's phone would.
type vendors struct {
	outbox *fake.Outbox
	faults *fake.Faults
	set    senderSet
}

type senderSet map[string]messaging.Sender

func (s senderSet) Detector(string) (nlu.Detector, bool) { return nil, false }
func (s senderSet) Sender(name string) (messaging.Sender, bool) {
	m, ok := s[name]
	return m, ok
}

func newVendors(t *testing.T) *vendors {
	t.Helper()
	v := &vendors{outbox: &fake.Outbox{}, faults: &fake.Faults{}, set: senderSet{}}
	const sid, token = "AC00000000000000000000000000000001", "s3cr3tT0ken"
	tw := httptest.NewServer(fake.NewTwilio(sid, token, v.outbox, v.faults, "twilio"))
	t.Cleanup(tw.Close)
	vg := httptest.NewServer(fake.NewVonage("key", "secret", v.outbox, v.faults, "vonage"))
	t.Cleanup(vg.Close)
	ts, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, BaseURL: tw.URL, Timeout: 5 * time.Second})
	require.NoError(t, err)
	vs, err := vonage.New(vonage.Config{APIKey: "key", APISecret: "secret", BaseURL: vg.URL, Timeout: 5 * time.Second})
	require.NoError(t, err)
	v.set["twilio"], v.set["vonage"] = ts, vs
	return v
}

func (v *vendors) fault(t *testing.T, f fake.Fault) {
	t.Helper()
	require.NoError(t, v.faults.Set(f))
}

// send runs one Send attempt of timeout, as its local activity would: with its
// deadline turn.AttemptGrace after the timeout.
func send(t *testing.T, a *Activities, in workflows.SendInput, timeout time.Duration) (workflows.SendOutput, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+turn.AttemptGrace)
	defer cancel()
	return a.Send(ctx, in)
}

func replyVia(provider, key string) workflows.SendInput {
	from := "+15550001000"
	if provider == "vonage" {
		from = "+15550002000"
	}
	return workflows.SendInput{Provider: provider, Message: turn.Message{
		Channel: "sms", From: from, To: "+15551230001", Body: "We open at nine.", IdempotencyKey: key}}
}

func errType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

func TestSend_TwilioTakesTheReplyThenHangs_TheRetryAsksTwilioAndSendsNothingTwice(t *testing.T) {
	v := newVendors(t)
	a := &Activities{Providers: v.set, Ledger: newLedger(t)}
	v.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeAcceptThenHang, LatencyMS: 10_000})

	_, err := send(t, a, replyVia("twilio", "conv/run/1"), 500*time.Millisecond)
	require.Equal(t, workflows.ErrTypeDeliveryUnknown, errType(err), "a timeout after Twilio got the request: %v", err)
	require.Len(t, v.outbox.List(), 1, "Twilio has the message")

	// The retry, and a failover to Vonage alike, must not send it again blind.
	out, err := send(t, a, replyVia("vonage", "conv/run/1"), 5*time.Second)
	require.NoError(t, err)
	require.True(t, out.Reused, "Twilio's message list says it has the reply")
	require.Equal(t, v.outbox.List()[0].MessageID, out.MessageID)
	out, err = send(t, a, replyVia("twilio", "conv/run/1"), 5*time.Second)
	require.NoError(t, err)
	require.True(t, out.Reused, "settled: the ledger holds the receipt now")
	require.Len(t, v.outbox.List(), 1, "the customer got one reply")
}

func TestSend_AWorkerKilledMidSend_TheTakeoverAsksTwilioFirst(t *testing.T) {
	v := newVendors(t)
	l := newLedger(t)
	l.Grace = 0
	a := &Activities{Providers: v.set, Ledger: l}
	ctx := context.Background()

	// A worker claimed turn 2's key and sent it, and died before recording it.
	dead, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := l.Claim(dead, "conv/run/2", "twilio", replyVia("twilio", "conv/run/2").Message)
	require.NoError(t, err)
	_, err = v.set["twilio"].Send(ctx, replyVia("twilio", "conv/run/2").Message)
	require.NoError(t, err)
	// Another worker claimed turn 3's key and died before it sent anything.
	_, err = l.Claim(dead, "conv/run/3", "twilio", turn.Message{Channel: "sms", From: "+15550001000", To: "+15551230001", Body: "Your parcel ships today."})
	require.NoError(t, err)
	<-dead.Done()
	cancel()

	out, err := send(t, a, replyVia("twilio", "conv/run/2"), 5*time.Second)
	require.NoError(t, err)
	require.True(t, out.Reused, "the dead worker's send is found at Twilio")
	require.Len(t, v.outbox.List(), 1)

	in := replyVia("twilio", "conv/run/3")
	in.Message.Body = "Your parcel ships today."
	out, err = send(t, a, in, 5*time.Second)
	require.NoError(t, err)
	require.False(t, out.Reused, "Twilio has no such message: this attempt sends it")
	require.Len(t, v.outbox.List(), 2)
}

func TestSend_VonageTakesTheReplyThenHangs_NothingIsSentUntilAnOperatorDecides(t *testing.T) {
	v := newVendors(t)
	a := &Activities{Providers: v.set, Ledger: newLedger(t)}
	v.fault(t, fake.Fault{Provider: "vonage", Mode: fake.ModeAcceptThenHang})
	_, err := send(t, a, replyVia("vonage", "conv/run/4"), 300*time.Millisecond)
	require.Equal(t, workflows.ErrTypeDeliveryUnknown, errType(err))
	v.fault(t, fake.Fault{Provider: "vonage", Mode: fake.ModeOK})

	for _, p := range []string{"vonage", "twilio"} {
		_, err = send(t, a, replyVia(p, "conv/run/4"), 5*time.Second)
		require.Equal(t, workflows.ErrTypeDeliveryUnknown, errType(err), "Vonage cannot be asked: %s must not send", p)
		require.ErrorContains(t, err, "cannot be asked")
	}
	require.Len(t, v.outbox.List(), 1)

	in := replyVia("twilio", "conv/run/4")
	in.SendUnknown = true
	out, err := send(t, a, in, 5*time.Second)
	require.NoError(t, err)
	require.False(t, out.Reused)
	require.Len(t, v.outbox.List(), 2, "the operator chose a possible duplicate over silence")
}

func TestSend_ARefusedSendIsReleased_AndTheNextProviderSends(t *testing.T) {
	v := newVendors(t)
	a := &Activities{Providers: v.set, Ledger: newLedger(t)}
	v.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeErrors, Status: 503})
	_, err := send(t, a, replyVia("twilio", "conv/run/5"), 5*time.Second)
	require.Equal(t, workflows.ErrTypeUnavailable, errType(err))
	out, err := send(t, a, replyVia("vonage", "conv/run/5"), 5*time.Second)
	require.NoError(t, err)
	require.False(t, out.Reused)
	require.Len(t, v.outbox.List(), 1)
	require.Equal(t, "vonage", v.outbox.List()[0].Vendor)
}

func TestSend_EveryCPaaSBreakerOpen_AForcedAttemptStillGoesOut(t *testing.T) {
	v := newVendors(t)
	reg, err := health.NewRegistry(nil, health.Options{Settings: map[string]health.BreakerSettings{"twilio": {}, "vonage": {}}})
	require.NoError(t, err)
	require.NoError(t, reg.Override(context.Background(), "twilio", string(health.ModeOpen)))
	a := &Activities{Providers: v.set, Ledger: newLedger(t), Guard: &Guard{Health: reg}}

	_, err = send(t, a, replyVia("twilio", "conv/run/6"), 5*time.Second)
	require.Equal(t, workflows.ErrTypeUnavailable, errType(err))
	require.ErrorContains(t, err, "circuit breaker open")
	require.Empty(t, v.outbox.List(), "an attempt the breaker refuses never reaches the vendor")

	in := replyVia("twilio", "conv/run/6")
	in.Forced = true
	_, err = send(t, a, in, 5*time.Second)
	require.NoError(t, err)
	require.Len(t, v.outbox.List(), 1, "the router forced it: the breaker's prediction must not leave the customer in silence")
}

func TestPolicyRouter_EveryCPaaSBreakerOpen_EveryProviderIsRoutedForcedInPolicyOrder_ButNotOneAnOperatorForcedOpen(t *testing.T) {
	pol := loadDevPolicy(t)
	r := PolicyRouter{
		Policy:    func() *routing.Policy { return pol },
		Available: func(p string) bool { return p != "twilio" && p != "vonage" },
		Has:       func(string) bool { return true },
	}
	in := turn.RouteInput{Vendor: "twilio", Channel: "sms", From: "+15550001000"}
	route, err := r.Route(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, route.CPaaS, 2)
	require.Equal(t, "twilio", route.CPaaS[0].Provider)
	require.Equal(t, "vonage", route.CPaaS[1].Provider)
	for _, c := range route.CPaaS {
		require.True(t, c.Forced, "%s is routed past its open breaker", c.Provider)
	}
	require.NotEmpty(t, route.NLU)

	r.OperatorOpen = func(p string) bool { return p == "twilio" }
	route, err = r.Route(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, route.CPaaS, 1)
	require.Equal(t, "vonage", route.CPaaS[0].Provider)

	r.Available = func(p string) bool { return p != "twilio" }
	route, err = r.Route(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, route.CPaaS, 1)
	require.False(t, route.CPaaS[0].Forced, "a healthy provider needs no forcing")
}

func loadDevPolicy(t *testing.T) *routing.Policy {
	t.Helper()
	data, err := os.ReadFile("../deploy/policy.dev.yaml")
	require.NoError(t, err)
	pol, err := routing.Parse(data)
	require.NoError(t, err)
	return pol
}

func TestSend_TwilioRejectsTheNumber_TheTranscriptSaysTheApiErrorOnce(t *testing.T) {
	v := newVendors(t)
	a := &Activities{Providers: v.set, Ledger: newLedger(t)}
	in := replyVia("twilio", "conv/run/9")
	in.Message.To = "notanumber"
	_, err := send(t, a, in, 5*time.Second)
	require.Equal(t, workflows.ErrTypeRejected, errType(err))
	// What the workflow sees: the error as recorded in the local activity's marker.
	fc := temporal.GetDefaultFailureConverter()
	seen := fc.FailureToError(fc.ErrorToFailure(err))
	text := workflows.ErrorText(seen)
	require.Equal(t, 1, strings.Count(text, "ApiError"), text)
	require.Equal(t, 1, strings.Count(text, "status 400"), text)
	require.Contains(t, text, "(status 400): ApiError 21211: Invalid 'To' Phone Number: notanumber")
	require.NotContains(t, text, "type:", text)
}
