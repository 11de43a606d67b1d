package api_test

// Fuzz targets for the three doors turns come in by: POST /v1/turns, the Twilio
// webhook and the Vonage webhook. Each request goes through the real handler to a
// real embedded NATS, and each target checks what came of it: a turn answered 2xx
// is in JetStream, once, and is one the workflow can take (valid, bounded, E.164
// where a vendor needs it, to a business's address, with the text that was sent); a
// turn refused is refused with an error that names what was wrong, and stored
// nothing.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// fuzzMaxBody is the body limit of the fuzzed API: small, so that the fuzzer reaches
// it.
const fuzzMaxBody = 8 << 10

// ingressFuzz is one API on one embedded NATS for a whole fuzz run, with the turns
// it stored so far.
type ingressFuzz struct {
	handler http.Handler
	stream  jetstream.Stream
	policy  *routing.Policy
	stored  map[string]turn.Turn // by turn id
	lastSeq uint64
}

func newIngressFuzz(f *testing.F) *ingressFuzz {
	nc, js := ingressNATS(f, streams.Config{})
	var pol *routing.Policy
	srv := ingressServer(f, nc, js, func(c *api.Config) {
		c.MaxBodyBytes = fuzzMaxBody
		pol = c.Policy.Current()
	}, slog.New(slog.DiscardHandler))
	st, err := js.Stream(f.Context(), turn.TurnsStream)
	if err != nil {
		f.Fatal(err)
	}
	return &ingressFuzz{handler: srv.Handler(), stream: st, policy: pol, stored: map[string]turn.Turn{}}
}

// serve runs req through the API and returns the status and the body.
func (z *ingressFuzz) serve(req *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	z.handler.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// newTurns are the turns stored since the last call.
func (z *ingressFuzz) newTurns(t *testing.T) []turn.Turn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	info, err := z.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []turn.Turn
	for ; z.lastSeq < info.State.LastSeq; z.lastSeq++ {
		m, err := z.stream.GetMsg(ctx, z.lastSeq+1)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := streams.DecodeTurn(m.Data)
		if err != nil {
			t.Fatalf("stored turn does not decode: %v", err)
		}
		out = append(out, tr)
	}
	return out
}

// refused checks a 4xx answer: a JSON error that names what was wrong, and
// nothing stored.
func (z *ingressFuzz) refused(t *testing.T, code int, body string, names ...string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || strings.TrimSpace(e.Error) == "" {
		t.Fatalf("%d without an error message: %q", code, body)
	}
	named := false
	for _, n := range names {
		named = named || strings.Contains(e.Error, n)
	}
	if !named {
		t.Fatalf("%d error %q names none of %q", code, e.Error, names)
	}
	if got := z.newTurns(t); len(got) > 0 {
		t.Fatalf("refused with %d (%s), yet stored %+v", code, e.Error, got)
	}
}

// accepted checks a 2xx answer for the turn want (its ReceivedAt aside): stored
// once, or already stored before, and fit for the workflow.
func (z *ingressFuzz) accepted(t *testing.T, want turn.Turn) turn.Turn {
	t.Helper()
	got := z.newTurns(t)
	var tr turn.Turn
	switch {
	case len(got) == 1:
		tr = got[0]
		if _, dup := z.stored[tr.ID]; dup {
			t.Fatalf("turn %s stored twice", tr.ID)
		}
		z.stored[tr.ID] = tr
	case len(got) == 0:
		prev, ok := z.stored[want.ID]
		if !ok {
			t.Fatalf("turn %s accepted but not stored", want.ID)
		}
		tr = prev
		want.Text, want.From, want.To, want.Channel, want.ConversationID = tr.Text, tr.From, tr.To, tr.Channel, tr.ConversationID
	default:
		t.Fatalf("one request stored %d turns: %+v", len(got), got)
	}
	if err := tr.ValidateIngress(); err != nil {
		t.Fatalf("stored %+v, which ingress validation refuses: %v", tr, err)
	}
	if len(tr.ID) > turn.MaxIDBytes || len(tr.From) > turn.MaxAddressBytes || len(tr.To) > turn.MaxAddressBytes || len(tr.Text) > turn.MaxTextBytes {
		t.Fatalf("stored a turn past its bounds: id %d, from %d, to %d, text %d bytes", len(tr.ID), len(tr.From), len(tr.To), len(tr.Text))
	}
	if (tr.Channel == turn.ChannelSMS || tr.Channel == turn.ChannelWhatsApp) && !turn.ValidE164(tr.From) {
		t.Fatalf("stored %s turn from %q, which is no E.164 number", tr.Channel, tr.From)
	}
	if !turn.InNamespace(tr.Vendor, tr.ConversationID) {
		t.Fatalf("stored %s turn in conversation %s", tr.Vendor, tr.ConversationID)
	}
	if z.policy.BusinessByAddress(tr.To) == nil {
		t.Fatalf("stored a turn to %q, which is no business's", tr.To)
	}
	tr.ReceivedAt, want.ReceivedAt = time.Time{}, time.Time{}
	if tr != want {
		t.Fatalf("stored %+v\nwant   %+v", tr, want)
	}
	return tr
}

// FuzzTurnAPI posts a body to POST /v1/turns with the ingress token.
func FuzzTurnAPI(f *testing.F) {
	for _, body := range []string{
		turnBody("backend-1", "", devBusiness),
		turnBody("own-1", "api-session-42", devBusiness),
		turnBody("join-1", turn.ConversationID(turn.VendorTwilio, turn.ChannelSMS, "+15551230001", devBusiness), devBusiness),
		turnBody("to-1", "", "15550002000"),
		turnBody("to-2", "", "+15559990000"),
		`{"message_id":"w1","channel":"chat","from":"+15552220001","to":"+15550001000","text":"when are you open"}`,
		`{"message_id":"chat-1","channel":"chat","from":"session-ann","to":"+15550001000","text":"hi"}`,
		`{"message_id":"wa-1","channel":"whatsapp","from":"+15557654321","to":"+15550002000","text":"hola"}`,
		`{"message_id":"v-1","channel":"voice","from":"+15557654321","to":"+15550001000","text":"  "}`,
		`{"message_id":"x","channel":"fax","from":"+15557654321","to":"+15550001000","text":"hi"}`,
		`{"message_id":"x","channel":"sms","from":"notanumber","to":"+15550001000","text":"hi"}`,
		`{"message_id":"x","channel":"sms","from":"+15557654321","to":"+15550001000","text":"hi","extra":1}`,
		`{"message_id":"long-from","channel":"chat","from":"` + strings.Repeat("s", 300) + `","to":"+15550001000","text":"hi"}`,
		// NATS trims a Nats-Msg-Id, so these two were one turn to JetStream.
		`{"message_id":"spaced","channel":"chat","from":"session-ann","to":"+15550001000","text":"first"}`,
		`{"message_id":"spaced ","channel":"chat","from":"session-ann","to":"+15550001000","text":"second"}`,
		`{"message_id":7}`,
		`{"message_id":"a"}{"message_id":"b"}`,
		`[]`,
		``,
	} {
		f.Add(body)
	}
	z := newIngressFuzz(f)
	fields := []string{"message_id", "conversation_id", "channel", "from", "to", "text", "malformed JSON", "request body"}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/turns", strings.NewReader(body))
		req.Header.Set("Authorization", bearer(testIngressToken))
		code, resp := z.serve(req)
		if (code == http.StatusRequestEntityTooLarge) != (len(body) > fuzzMaxBody) {
			t.Fatalf("a %d-byte body (limit %d): %d %s", len(body), fuzzMaxBody, code, resp)
		}
		switch code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			z.refused(t, code, resp, fields...)
		case http.StatusAccepted:
			var r struct {
				TurnID         string `json:"turn_id"`
				ConversationID string `json:"conversation_id"`
				Duplicate      bool   `json:"duplicate"`
			}
			if err := json.Unmarshal([]byte(resp), &r); err != nil {
				t.Fatalf("202 %q: %v", resp, err)
			}
			var in struct {
				ConversationID          string `json:"conversation_id"`
				MessageID               string `json:"message_id"`
				Channel, From, To, Text string
			}
			if err := json.Unmarshal([]byte(body), &in); err != nil {
				t.Fatalf("accepted %q, which is no JSON object: %v", body, err)
			}
			conv := in.ConversationID
			if conv == "" {
				conv = turn.ConversationID(turn.VendorAPI, in.Channel, in.From, in.To)
			}
			_, seen := z.stored[turn.ID(turn.VendorAPI, in.MessageID)]
			tr := z.accepted(t, turn.Turn{
				ID: turn.ID(turn.VendorAPI, in.MessageID), ConversationID: conv, Vendor: turn.VendorAPI,
				Channel: in.Channel, From: in.From, To: in.To, Text: in.Text,
			})
			// A message_id seen before is a duplicate whatever its conversation (the
			// README says so): the answer names the request's conversation, the
			// turn stored stays the first one.
			if r.TurnID != tr.ID || r.Duplicate != seen || r.ConversationID != conv || !seen && conv != tr.ConversationID {
				t.Fatalf("answered %q for stored %+v", resp, tr)
			}
		default:
			t.Fatalf("answered %d %s", code, resp)
		}
	})
}

// FuzzTwilioWebhook posts a form body to the Twilio webhook, signed as Twilio signs
// it: the signature check must let every signed request through, and the turn
// stored must be the form's message.
func FuzzTwilioWebhook(f *testing.F) {
	for _, body := range []string{
		"MessageSid=SM1&SmsMessageSid=SM1&AccountSid=AC1&From=%2B15557654321&To=%2B15550001000&Body=where+is+my+order&NumMedia=0",
		"MessageSid=SM2&AccountSid=AC1&From=whatsapp%3A%2B15557654321&To=whatsapp%3A%2B15550002000&Body=hola&ProfileName=Ann&WaId=15557654321",
		"MessageSid=SM3&AccountSid=AC1&From=%2B15557654321&To=%2B15550001000&Body=&NumMedia=1&MediaUrl0=https%3A%2F%2Fexample.com%2Fa.jpg",
		"MessageSid=SM4&AccountSid=AC1&From=whatsapp%3A&To=%2B15550001000&Body=hi",
		"MessageSid=SM5&AccountSid=AC1&From=%2B15557654321&To=%2B15559990000&Body=hi",
		"MessageSid=SM6&AccountSid=AC1&From=notanumber&To=%2B15550001000&Body=hi",
		"ToCountry=US&SmsMessageSid=SM7&NumMedia=0&SmsSid=SM7&SmsStatus=received&Body=Where+is+my+order%3F&FromCountry=US" +
			"&To=%2B15550001000&NumSegments=1&MessageSid=SM7&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B15557654321&ApiVersion=2010-04-01",
		"MessageSid=SM" + strings.Repeat("0", 300) + "&AccountSid=AC1&From=%2B15557654321&To=%2B15550001000&Body=hi",
		// NATS trims a Nats-Msg-Id, so these two were one turn to JetStream.
		"MessageSid=SM8&AccountSid=AC1&From=%2B15557654321&To=%2B15550001000&Body=first",
		"MessageSid=SM8%0A&AccountSid=AC1&From=%2B15557654321&To=%2B15550001000&Body=second",
		"Body=%ZZ",
	} {
		f.Add(body)
	}
	z := newIngressFuzz(f)
	fields := []string{"MessageSid", "AccountSid", "From", "To", "from", "to", "text", "id", "conversation_id", "channel", "request body"}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			form = url.Values{} // the API refuses it before the signature matters
		}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, testmsg.TwilioPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twilio.Sign("twilio-token", "http://127.0.0.1"+testmsg.TwilioPath, form))
		code, resp := z.serve(req)
		if (code == http.StatusRequestEntityTooLarge) != (len(body) > fuzzMaxBody) {
			t.Fatalf("a %d-byte body (limit %d): %d %s", len(body), fuzzMaxBody, code, resp)
		}
		switch code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			z.refused(t, code, resp, fields...)
		case http.StatusOK:
			if err != nil {
				t.Fatalf("accepted %q, which is no form: %v", body, err)
			}
			in, err := twilio.ParseInbound(form)
			if err != nil {
				t.Fatalf("accepted %q, which ParseInbound refuses: %v", body, err)
			}
			z.accepted(t, turn.Turn{
				ID: turn.ID(turn.VendorTwilio, in.MessageSID), ConversationID: turn.ConversationID(turn.VendorTwilio, in.Channel, in.From, in.To),
				Vendor: turn.VendorTwilio, Channel: in.Channel, From: in.From, To: in.To, Text: in.Body,
			})
		default:
			t.Fatalf("a signed webhook answered %d %s", code, resp)
		}
	})
}

// FuzzVonageWebhook posts a body to the Vonage webhook with a fresh token signed as
// Vonage signs it.
func FuzzVonageWebhook(f *testing.F) {
	for _, body := range []string{
		string(vonageWebhook("aaaaaaaa-bbbb-cccc-dddd-0123456789ab")),
		`{"to":"15550002000","from":"15557654321","channel":"whatsapp","message_uuid":"0f1d2c3b-4a59-6877-8695-a4b3c2d1e0f9",` +
			`"timestamp":"2025-02-03T12:14:25Z","message_type":"text","text":"hola","profile":{"name":"Ann"}}`,
		`{"to":"15550001000","from":"15557654321","channel":"sms","message_uuid":"u-1","timestamp":"2025-02-03T12:14:25Z",` +
			`"message_type":"text","text":"x","sms":{"num_messages":"1"}}`,
		`{"to":"15550002000","from":"15557654321","channel":"whatsapp","message_uuid":"u-2","timestamp":"2025-02-03T12:14:25Z",` +
			`"message_type":"image","image":{"url":"https://example.com/a.jpg"}}`,
		`{"to":"15550002000","from":"15557654321","channel":"viber_service","message_uuid":"u-3","timestamp":"2025-02-03T12:14:25Z","message_type":"text","text":"hi"}`,
		`{"to":"15550002000","from":"abc","channel":"chat","message_uuid":"u-4","timestamp":"2025-02-03T12:14:25Z","message_type":"text","text":"hi"}`,
		// NATS trims a Nats-Msg-Id, so these two were one turn to JetStream.
		`{"to":"15550002000","from":"15557654321","channel":"sms","message_uuid":"u-5","timestamp":"2025-02-03T12:14:25Z","message_type":"text","text":"first"}`,
		`{"to":"15550002000","from":"15557654321","channel":"sms","message_uuid":"u-5\t","timestamp":"2025-02-03T12:14:25Z","message_type":"text","text":"second"}`,
		`{"to":"15550002000","from":"15557654321","channel":"sms","message_uuid":"` + strings.Repeat("u", 300) + `","timestamp":"2025-02-03T12:14:25Z","message_type":"text","text":"hi"}`,
		`[]`,
	} {
		f.Add([]byte(body))
	}
	z := newIngressFuzz(f)
	fields := []string{"JSON", "message_uuid", "from", "to", "channel", "message_type", "text", "timestamp", "id", "conversation_id", "request body"}
	f.Fuzz(func(t *testing.T, body []byte) {
		auth, err := vonage.SignToken(ingressVonageSecret, body, vonage.Token{ID: uuid.NewString(), IssuedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, testmsg.VonagePath, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		code, resp := z.serve(req)
		if (code == http.StatusRequestEntityTooLarge) != (len(body) > fuzzMaxBody) {
			t.Fatalf("a %d-byte body (limit %d): %d %s", len(body), fuzzMaxBody, code, resp)
		}
		switch code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			z.refused(t, code, resp, fields...)
		case http.StatusOK:
			in, err := vonage.ParseInbound(body)
			if err != nil {
				t.Fatalf("accepted %q, which ParseInbound refuses: %v", body, err)
			}
			tr := z.accepted(t, turn.Turn{
				ID: turn.ID(turn.VendorVonage, in.MessageUUID), ConversationID: turn.ConversationID(turn.VendorVonage, in.Channel, in.From, in.To),
				Vendor: turn.VendorVonage, Channel: in.Channel, From: in.From, To: in.To, Text: in.Text,
			})
			var r struct {
				TurnID string `json:"turn_id"`
			}
			if err := json.Unmarshal([]byte(resp), &r); err != nil || r.TurnID != tr.ID {
				t.Fatalf("answered %q for stored turn %s", resp, tr.ID)
			}
		default:
			t.Fatalf("a signed webhook answered %d %s", code, resp)
		}
	})
}
