package fake

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

var (
	// Vonage numbers are E.164 without the plus: 7 to 15 digits.
	vonageNumber = regexp.MustCompile(`^[1-9][0-9]{6,14}$`)
	// An SMS sender may also be an alphanumeric sender ID.
	vonageSenderID = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
)

type vonageFake struct {
	key, secret string
	outbox      *Outbox
	faults      *Faults
	name        string
}

// NewVonage returns a fake of the Vonage Messages API: POST /v1/messages with basic
// auth apiKey:apiSecret and a JSON text message, answered as Vonage answers (202 with
// {"message_uuid"}, problem JSON otherwise). Faults are drawn per call under name,
// and accepted messages go to outbox with channel-neutral addresses: Vonage's
// plus-less numbers are recorded in E.164 with their plus, as the other vendors'
// are. A nil outbox or faults is replaced by an empty one.
//
// On the same host it also serves the Account API's GET /account/get-balance (which
// Vonage serves on rest.nexmo.com), the call providers/vonage makes as its health
// probe: credentials in basic auth or in the api_key and api_secret query
// parameters, as Vonage accepts them, the same faults as sends, a balance of
// {"value": 10.5, "autoReload": false}, and nothing recorded in the outbox.
func NewVonage(apiKey, apiSecret string, outbox *Outbox, faults *Faults, name string) http.Handler {
	if outbox == nil {
		outbox = &Outbox{}
	}
	if faults == nil {
		faults = &Faults{}
	}
	f := &vonageFake{key: apiKey, secret: apiSecret, outbox: outbox, faults: faults, name: name}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", f.send)
	mux.HandleFunc("GET /account/get-balance", f.getBalance)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeVonageProblem(w, http.StatusNotFound, "not-found", "Not Found",
			"The requested resource does not exist.", nil)
	})
	return mux
}

// vonageSend is the body of a Messages API text send.
type vonageSend struct {
	MessageType string `json:"message_type"`
	Text        string `json:"text"`
	To          string `json:"to"`
	From        string `json:"from"`
	Channel     string `json:"channel"`
	ClientRef   string `json:"client_ref"`
}

type vonageInvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// fault carries out the call's fault decision; it reports whether the handler
// should go on. Sends and balance reads share it, so a fault hits both alike.
func (f *vonageFake) fault(w http.ResponseWriter, r *http.Request) (Decision, bool) {
	d := f.faults.Decide(f.name)
	if !cpaasFault(w, r, d) {
		return d, false
	}
	if d.Status != 0 {
		writeVonageProblem(w, d.Status, vonageErrorType(d.Status), http.StatusText(d.Status),
			"The fake was switched to fail this call.", nil)
		return d, false
	}
	return d, true
}

func writeVonageUnauthorized(w http.ResponseWriter) {
	writeVonageProblem(w, http.StatusUnauthorized, "unauthorized", "Unauthorized",
		"You did not provide correct credentials.", nil)
}

// getBalance answers the Account API's balance read. It records nothing.
func (f *vonageFake) getBalance(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.fault(w, r); !ok {
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		q := r.URL.Query()
		user, pass, ok = q.Get("api_key"), q.Get("api_secret"), q.Has("api_key")
	}
	if !ok || !cpaasEqual(user, f.key) || !cpaasEqual(pass, f.secret) {
		writeVonageUnauthorized(w)
		return
	}
	cpaasJSON(w, http.StatusOK, map[string]any{"value": 10.5, "autoReload": false})
}

func (f *vonageFake) send(w http.ResponseWriter, r *http.Request) {
	d, ok := f.fault(w, r)
	if !ok {
		return
	}

	user, pass, ok := r.BasicAuth()
	if !ok || !cpaasEqual(user, f.key) || !cpaasEqual(pass, f.secret) {
		writeVonageUnauthorized(w)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeVonageProblem(w, http.StatusUnsupportedMediaType, "unsupported-media-type",
			"Unsupported Media Type", "The request body must be application/json.", nil)
		return
	}

	var m vonageSend
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCPaaSRequest))
	if err := dec.Decode(&m); err != nil {
		status, detail := http.StatusBadRequest, "The request body is not valid JSON."
		if errors.As(err, new(*http.MaxBytesError)) {
			status, detail = http.StatusRequestEntityTooLarge, "The request body is too large."
		}
		writeVonageProblem(w, status, "bad-request", http.StatusText(status), detail, nil)
		return
	}
	if bad := validateVonageSend(m); len(bad) > 0 {
		writeVonageProblem(w, http.StatusUnprocessableEntity, "messages#1150", "Invalid params",
			"The value of one or more parameters is invalid.", bad)
		return
	}

	id := uuid.NewString()
	// Recorded before answering, for the same reason as the Twilio fake.
	f.outbox.Add(Sent{
		Vendor:         f.name,
		MessageID:      id,
		Channel:        m.Channel,
		From:           vonageE164(m.From),
		To:             vonageE164(m.To),
		Body:           m.Text,
		IdempotencyKey: m.ClientRef,
		At:             time.Now().UTC(),
	})
	if d.AnswerLate && !answerLate(r.Context(), d.AnswerAfter) {
		return // accepted; the caller never learns it
	}
	cpaasJSON(w, http.StatusAccepted, map[string]string{"message_uuid": id})
}

func validateVonageSend(m vonageSend) []vonageInvalidParam {
	var bad []vonageInvalidParam
	add := func(name, reason string) { bad = append(bad, vonageInvalidParam{name, reason}) }
	if m.MessageType != "text" {
		add("message_type", "must be text")
	}
	switch n := utf8.RuneCountInString(m.Text); {
	case n == 0:
		add("text", "is required")
	case n > 1000:
		add("text", "must be at most 1000 characters")
	}
	if m.Channel != "sms" && m.Channel != "whatsapp" {
		add("channel", "must be sms or whatsapp")
	}
	if !vonageNumber.MatchString(m.To) {
		add("to", "must be an E.164 number without a leading + or 00")
	}
	if !vonageNumber.MatchString(m.From) && (m.Channel != "sms" || !vonageSenderID.MatchString(m.From)) {
		add("from", "must be an E.164 number without a leading + or 00, or an SMS sender ID")
	}
	if len(m.ClientRef) > 100 {
		add("client_ref", "must be at most 100 characters")
	}
	return bad
}

// vonageE164 restores the plus Vonage numbers go without; sender IDs stay as they are.
func vonageE164(addr string) string {
	if vonageNumber.MatchString(addr) {
		return "+" + addr
	}
	return addr
}

func vonageErrorType(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusUnauthorized:
		return "unauthorized"
	}
	if status >= 500 {
		return "internal"
	}
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "-"))
}

// writeVonageProblem answers with an RFC 7807 problem, Vonage's error shape.
func writeVonageProblem(w http.ResponseWriter, status int, kind, title, detail string, bad []vonageInvalidParam) {
	p := map[string]any{
		"type":     "https://developer.vonage.com/api-errors#" + kind,
		"title":    title,
		"detail":   detail,
		"instance": uuid.NewString(),
	}
	if strings.HasPrefix(kind, "messages#") {
		p["type"] = "https://developer.vonage.com/api-errors/" + kind
	}
	if len(bad) > 0 {
		p["invalid_parameters"] = bad
	}
	cpaasJSONType(w, status, "application/problem+json", p)
}
