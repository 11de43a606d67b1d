package fake_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

const (
	vgKey    = "fakekey1"
	vgSecret = "fakeVonageSecret"
)

func startVonageFake(t *testing.T) (*httptest.Server, *fake.Outbox, *fake.Faults) {
	t.Helper()
	outbox, faults := &fake.Outbox{}, &fake.Faults{}
	srv := httptest.NewServer(fake.NewVonage(vgKey, vgSecret, outbox, faults, "vonage"))
	t.Cleanup(srv.Close)
	return srv, outbox, faults
}

type vonageAnswer struct {
	status      int
	contentType string
	body        map[string]any
}

func vonagePost(t *testing.T, srv *httptest.Server, user, pass, contentType string, body []byte) (vonageAnswer, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return vonageAnswer{}, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return vonageAnswer{resp.StatusCode, resp.Header.Get("Content-Type"), m}, nil
}

func vonageText(mod func(map[string]any)) []byte {
	m := map[string]any{"message_type": "text", "text": "Your order shipped.", "to": "15557654321",
		"from": "15550001111", "channel": "sms", "client_ref": "conv-1:turn-1"}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func TestVonageFakeAcceptsAMessageAsVonageDoes(t *testing.T) {
	srv, outbox, _ := startVonageFake(t)
	a, err := vonagePost(t, srv, vgKey, vgSecret, "application/json", vonageText(nil))
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusAccepted {
		t.Fatalf("status = %d, body %v", a.status, a.body)
	}
	id, _ := a.body["message_uuid"].(string)
	if _, err := uuid.Parse(id); err != nil {
		t.Errorf("message_uuid = %q: %v", id, err)
	}
	sent := outbox.List()
	if len(sent) != 1 {
		t.Fatalf("outbox has %d messages, want 1", len(sent))
	}
	s := sent[0]
	if s.Vendor != "vonage" || s.MessageID != id || s.Channel != "sms" || s.To != "+15557654321" ||
		s.From != "+15550001111" || s.Body != "Your order shipped." || s.IdempotencyKey != "conv-1:turn-1" || s.At.IsZero() {
		t.Errorf("outbox recorded %+v", s)
	}
}

func TestVonageFakeKeepsAnAlphanumericSenderID(t *testing.T) {
	srv, outbox, _ := startVonageFake(t)
	body := vonageText(func(m map[string]any) { m["from"] = "Switchboard" })
	if a, err := vonagePost(t, srv, vgKey, vgSecret, "application/json", body); err != nil || a.status != 202 {
		t.Fatalf("answer %v, %v", a, err)
	}
	if got := outbox.List()[0].From; got != "Switchboard" {
		t.Errorf("from = %q", got)
	}
}

func TestVonageFakeRecordsDuplicatesBecauseVonageWould(t *testing.T) {
	srv, outbox, _ := startVonageFake(t)
	for range 2 {
		if a, err := vonagePost(t, srv, vgKey, vgSecret, "application/json", vonageText(nil)); err != nil || a.status != 202 {
			t.Fatalf("answer %v, %v", a, err)
		}
	}
	if n := len(outbox.List()); n != 2 {
		t.Errorf("outbox has %d messages, want the duplicate too (2)", n)
	}
}

func TestVonageFakeRefusesWhatVonageRefuses(t *testing.T) {
	for _, c := range []struct {
		name        string
		user, pass  string
		contentType string
		body        []byte
		status      int
		invalid     string // the invalid_parameters name expected, if any
	}{
		{"no credentials", "", "", "application/json", vonageText(nil), 401, ""},
		{"wrong secret", vgKey, "nope", "application/json", vonageText(nil), 401, ""},
		{"form body", vgKey, vgSecret, "application/x-www-form-urlencoded", []byte("to=1"), 415, ""},
		{"broken JSON", vgKey, vgSecret, "application/json", []byte(`{"to":`), 400, ""},
		{"image", vgKey, vgSecret, "application/json",
			vonageText(func(m map[string]any) { m["message_type"] = "image" }), 422, "message_type"},
		{"no text", vgKey, vgSecret, "application/json",
			vonageText(func(m map[string]any) { delete(m, "text") }), 422, "text"},
		{"long text", vgKey, vgSecret, "application/json",
			vonageText(func(m map[string]any) { m["text"] = strings.Repeat("é", 1001) }), 422, "text"},
		{"plus in to", vgKey, vgSecret, "application/json",
			vonageText(func(m map[string]any) { m["to"] = "+15557654321" }), 422, "to"},
		{"no from", vgKey, vgSecret, "application/json",
			vonageText(func(m map[string]any) { delete(m, "from") }), 422, "from"},
		{"sender ID on whatsapp", vgKey, vgSecret, "application/json",
			vonageText(func(m map[string]any) { m["from"] = "Switchboard"; m["channel"] = "whatsapp" }), 422, "from"},
		{"unknown channel", vgKey, vgSecret, "application/json",
			vonageText(func(m map[string]any) { m["channel"] = "pigeon" }), 422, "channel"},
		{"long client_ref", vgKey, vgSecret, "application/json",
			vonageText(func(m map[string]any) { m["client_ref"] = strings.Repeat("k", 101) }), 422, "client_ref"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, outbox, _ := startVonageFake(t)
			a, err := vonagePost(t, srv, c.user, c.pass, c.contentType, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if a.status != c.status {
				t.Errorf("status = %d, want %d: %v", a.status, c.status, a.body)
			}
			if a.contentType != "application/problem+json" {
				t.Errorf("content type = %q, want application/problem+json", a.contentType)
			}
			for _, k := range []string{"type", "title", "detail", "instance"} {
				if s, _ := a.body[k].(string); s == "" {
					t.Errorf("problem has no %s: %v", k, a.body)
				}
			}
			if c.invalid != "" {
				b, _ := json.Marshal(a.body["invalid_parameters"])
				if !strings.Contains(string(b), `"name":"`+c.invalid+`"`) {
					t.Errorf("invalid_parameters = %s, want %s named", b, c.invalid)
				}
			}
			if n := len(outbox.List()); n != 0 {
				t.Errorf("outbox has %d messages, want 0", n)
			}
		})
	}
}

func TestVonageFakeObeysFaults(t *testing.T) {
	srv, outbox, faults := startVonageFake(t)

	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeDown})
	if _, err := vonagePost(t, srv, vgKey, vgSecret, "application/json", vonageText(nil)); err == nil {
		t.Error("a down fake answered")
	}

	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeErrors, Status: 503})
	a, err := vonagePost(t, srv, vgKey, vgSecret, "application/json", vonageText(nil))
	if err != nil {
		t.Fatal(err)
	}
	if a.status != 503 || a.contentType != "application/problem+json" || a.body["title"] == "" {
		t.Errorf("answer %d %q %v", a.status, a.contentType, a.body)
	}

	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeOK})
	if a, err := vonagePost(t, srv, vgKey, vgSecret, "application/json", vonageText(nil)); err != nil || a.status != 202 {
		t.Fatalf("after clearing the fault: %v, %v", a, err)
	}
	if n := len(outbox.List()); n != 1 {
		t.Errorf("outbox has %d messages, want 1", n)
	}
}
