package fake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The chat receiver's side of the reply protocol of providers/webhook, written
// here from that package's documentation rather than imported, so that a client
// and a fake that drifted from the documented procedure together would not pass.
const (
	chatTimestampHeader   = "X-Switchboard-Timestamp"
	chatSignatureHeader   = "X-Switchboard-Signature"
	chatIdempotencyHeader = "Idempotency-Key"
	chatReplayWindow      = 5 * time.Minute
)

// ChatReceiver is a fake of a web-chat backend that takes Switchboard's signed
// webhook replies, as a receiver following providers/webhook's documentation does:
//
//   - POST on any path: the signature (X-Switchboard-Signature, "v1=" and the hex
//     HMAC-SHA256 of the X-Switchboard-Timestamp header, ".", and the raw body) is
//     checked with the secret, and the timestamp against a 5-minute replay window;
//     a mismatch or a stale request is answered 401 and recorded nowhere. A body
//     that is no reply, or has no Idempotency-Key, is answered 400. A reply is
//     recorded in the outbox (Outbox.AddOnce: a repeated key is answered again
//     with the same id and counted, never shown twice) and answered 200 {"id"}.
//   - GET /healthz (the probe_url of the dev policy) answers 200, and OPTIONS on
//     any path 204: the probes, which record nothing.
//
// Every call obeys the fault switches under name: down drops the connection,
// errors answers the status ({"error": ...}), slow waits first, and
// accept_then_hang records the reply and then answers late or never. Safe for
// concurrent use.
type ChatReceiver struct {
	secret []byte
	outbox *Outbox
	faults *Faults
	name   string
	mux    *http.ServeMux

	mu      sync.Mutex
	refused []string // why each refused POST was refused, oldest first
}

// NewChatReceiver returns a chat receiver that verifies requests with secret. A nil
// outbox or faults is replaced by an empty one.
func NewChatReceiver(secret []byte, outbox *Outbox, faults *Faults, name string) *ChatReceiver {
	if outbox == nil {
		outbox = &Outbox{}
	}
	if faults == nil {
		faults = &Faults{}
	}
	c := &ChatReceiver{secret: append([]byte(nil), secret...), outbox: outbox, faults: faults, name: name, mux: http.NewServeMux()}
	c.mux.HandleFunc("POST /", c.receive)
	c.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := c.admit(w, r); ok {
			cpaasJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	})
	c.mux.HandleFunc("OPTIONS /", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := c.admit(w, r); ok {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
		}
	})
	return c
}

func (c *ChatReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// Refused lists why each POST the receiver refused (bad signature, stale, not a
// reply) was refused, oldest first.
func (c *ChatReceiver) Refused() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.refused...)
}

// admit draws and applies a call's fault; it reports whether the handler should go
// on.
func (c *ChatReceiver) admit(w http.ResponseWriter, r *http.Request) (Decision, bool) {
	d := c.faults.Decide(c.name)
	if !cpaasFault(w, r, d) {
		return d, false
	}
	if d.Status != 0 {
		cpaasJSON(w, d.Status, map[string]string{"error": http.StatusText(d.Status)})
		return d, false
	}
	return d, true
}

// chatReply is the body of a reply request, as providers/webhook documents it.
type chatReply struct {
	ConversationID string    `json:"conversation_id"`
	TurnID         string    `json:"turn_id"`
	IdempotencyKey string    `json:"idempotency_key"`
	Channel        string    `json:"channel"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	Body           string    `json:"body"`
	SentAt         time.Time `json:"sent_at"`
}

func (c *ChatReceiver) receive(w http.ResponseWriter, r *http.Request) {
	d, ok := c.admit(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCPaaSRequest))
	if err != nil {
		c.refuse(w, http.StatusBadRequest, "the body could not be read")
		return
	}
	if why := c.verify(r.Header.Get(chatTimestampHeader), r.Header.Get(chatSignatureHeader), body); why != "" {
		c.refuse(w, http.StatusUnauthorized, why)
		return
	}
	var m chatReply
	key := r.Header.Get(chatIdempotencyHeader)
	switch {
	case json.Unmarshal(body, &m) != nil:
		c.refuse(w, http.StatusBadRequest, "the body is not a reply document")
		return
	case key == "" || key != m.IdempotencyKey:
		c.refuse(w, http.StatusBadRequest, "the Idempotency-Key header is missing or differs from the body's idempotency_key")
		return
	case m.To == "" || m.Body == "":
		c.refuse(w, http.StatusBadRequest, "a reply needs to and body")
		return
	}
	kept, _ := c.outbox.AddOnce(Sent{
		Vendor: c.name, MessageID: "chat-" + cpaasHex(8), Channel: m.Channel,
		From: m.From, To: m.To, Body: m.Body, IdempotencyKey: key, At: time.Now().UTC(),
		ConversationID: m.ConversationID, TurnID: m.TurnID,
	})
	// Recorded before answering: a caller that gives up now has still had its
	// reply stored, the ambiguity providers.MaybeDelivered describes.
	if d.AnswerLate && !answerLate(r.Context(), d.AnswerAfter) {
		return
	}
	cpaasJSON(w, http.StatusOK, map[string]string{"id": kept.MessageID})
}

// verify checks a request's signature and timestamp; it returns why it fails, or "".
func (c *ChatReceiver) verify(timestamp, signature string, body []byte) string {
	sig, ok := strings.CutPrefix(signature, "v1=")
	got, err := hex.DecodeString(sig)
	if !ok || err != nil {
		return "no v1= signature"
	}
	h := hmac.New(sha256.New, c.secret)
	h.Write([]byte(timestamp + "."))
	h.Write(body)
	if !hmac.Equal(got, h.Sum(nil)) {
		return "signature does not match"
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return "timestamp is not a Unix time"
	}
	if age := time.Since(time.Unix(sec, 0)); age > chatReplayWindow || age < -chatReplayWindow {
		return "timestamp outside the replay window"
	}
	return ""
}

func (c *ChatReceiver) refuse(w http.ResponseWriter, status int, why string) {
	c.mu.Lock()
	c.refused = append(c.refused, why)
	c.mu.Unlock()
	cpaasJSON(w, status, map[string]string{"error": why})
}
