package fake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// twilioIdempotencyHeader is where providers/twilio carries the reply's idempotency
// key. The fake records it and deliberately does not dedupe on it: the outbox must
// show a duplicate send as the customer would see it.
const twilioIdempotencyHeader = "I-Twilio-Idempotency-Token"

const (
	twilioWhatsApp = "whatsapp:"
	// maxCPaaSRequest bounds a send request body; a text message is a few KiB.
	maxCPaaSRequest = 1 << 20
)

// A Twilio "To" number: E.164 with its leading plus.
var twilioE164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

type twilioFake struct {
	sid, token string
	outbox     *Outbox
	faults     *Faults
	name       string
	created    time.Time // the account's date_created
}

// NewTwilio returns a fake of Twilio's Programmable Messaging API for one account:
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json with basic auth
// accountSID:authToken, answered as Twilio answers (201 with a message resource,
// Twilio error JSON otherwise). Faults are drawn per call under name, and accepted
// messages go to outbox with channel-neutral addresses (the whatsapp: prefix becomes
// Channel "whatsapp"). A nil outbox or faults is replaced by an empty one.
//
// It also serves GET /2010-04-01/Accounts/{AccountSid}.json, the account resource
// providers/twilio fetches as its health probe: same basic auth, same faults, an
// active "Full" account in Twilio's shape, and nothing recorded in the outbox.
func NewTwilio(accountSID, authToken string, outbox *Outbox, faults *Faults, name string) http.Handler {
	if outbox == nil {
		outbox = &Outbox{}
	}
	if faults == nil {
		faults = &Faults{}
	}
	f := &twilioFake{sid: accountSID, token: authToken, outbox: outbox, faults: faults, name: name,
		created: time.Now().UTC().Truncate(time.Second)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{AccountSid}/Messages.json", f.createMessage)
	mux.HandleFunc("GET /2010-04-01/Accounts/{AccountSid}/Messages.json", f.listMessages)
	// A wildcard must be a whole path segment, so "{AccountSid}.json" is matched as
	// one segment and its suffix checked by the handler.
	mux.HandleFunc("GET /2010-04-01/Accounts/{account}", f.fetchAccount)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeTwilioError(w, http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
	})
	return mux
}

// admit applies the call's fault and checks its credentials and account, answering
// for itself when the call must not go on. Sends and account fetches share it, so a
// fault set on the provider hits both alike.
func (f *twilioFake) admit(w http.ResponseWriter, r *http.Request, account string) (Decision, bool) {
	d := f.faults.Decide(f.name)
	if !cpaasFault(w, r, d) {
		return d, false
	}
	if d.Status != 0 {
		// Twilio's generic errors are 20000 + status (20429, 20500, 20503).
		writeTwilioError(w, d.Status, 20000+d.Status, http.StatusText(d.Status))
		return d, false
	}

	user, pass, ok := r.BasicAuth()
	if !ok || !cpaasEqual(user, f.sid) || !cpaasEqual(pass, f.token) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeTwilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return d, false
	}
	if account != f.sid {
		writeTwilioError(w, http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return d, false
	}
	return d, true
}

// fetchAccount answers GET /2010-04-01/Accounts/{AccountSid}.json with the account
// resource, as Twilio does. It records nothing.
func (f *twilioFake) fetchAccount(w http.ResponseWriter, r *http.Request) {
	account, ok := strings.CutSuffix(r.PathValue("account"), ".json")
	if !ok {
		// Twilio answers the suffix-less path in XML; the fake speaks JSON only.
		writeTwilioError(w, http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return
	}
	if _, ok := f.admit(w, r, account); !ok {
		return
	}
	base := "/2010-04-01/Accounts/" + f.sid
	subresources := map[string]string{"sip": base + "/SIP.json"}
	for _, name := range []string{"addresses", "conferences", "signing_keys", "transcriptions",
		"connect_apps", "authorized_connect_apps", "usage", "keys", "applications",
		"recordings", "short_codes", "calls", "notifications", "incoming_phone_numbers", "queues",
		"messages", "outgoing_caller_ids", "available_phone_numbers", "balance"} {
		subresources[name] = base + "/" + twilioResourceName(name) + ".json"
	}
	date := f.created.Format(time.RFC1123Z)
	cpaasJSON(w, http.StatusOK, map[string]any{
		// Twilio includes the account's auth token in the resource; so does the fake.
		"auth_token":        f.token,
		"date_created":      date,
		"date_updated":      date,
		"friendly_name":     "Switchboard fake account",
		"owner_account_sid": f.sid,
		"sid":               f.sid,
		"status":            "active",
		"subresource_uris":  subresources,
		"type":              "Full",
		"uri":               base + ".json",
	})
}

// twilioResourceName turns a subresource key (incoming_phone_numbers) into its path
// segment (IncomingPhoneNumbers).
func twilioResourceName(key string) string {
	var b strings.Builder
	for _, part := range strings.Split(key, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func (f *twilioFake) createMessage(w http.ResponseWriter, r *http.Request) {
	d, ok := f.admit(w, r, r.PathValue("AccountSid"))
	if !ok {
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxCPaaSRequest)
	if err := r.ParseForm(); err != nil {
		writeTwilioError(w, http.StatusBadRequest, 20001, "Could not read the request form")
		return
	}
	to, from, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body")
	switch {
	case to == "":
		writeTwilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case from == "":
		writeTwilioError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case body == "":
		writeTwilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	channel := "sms"
	plainTo, plainFrom := to, from
	if strings.HasPrefix(to, twilioWhatsApp) || strings.HasPrefix(from, twilioWhatsApp) {
		if !strings.HasPrefix(to, twilioWhatsApp) || !strings.HasPrefix(from, twilioWhatsApp) {
			writeTwilioError(w, http.StatusBadRequest, 21910,
				"Invalid From and To pair. From and To should be of the same channel")
			return
		}
		channel = "whatsapp"
		plainTo = strings.TrimPrefix(to, twilioWhatsApp)
		plainFrom = strings.TrimPrefix(from, twilioWhatsApp)
	}
	if !twilioE164.MatchString(plainTo) {
		writeTwilioError(w, http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to))
		return
	}

	now := time.Now().UTC()
	sid := "SM" + cpaasHex(16)
	// Recorded before answering: a caller that gives up now has still had its
	// message accepted, which is exactly the ambiguity ErrTimeout describes.
	f.outbox.Add(Sent{
		Vendor:         f.name,
		MessageID:      sid,
		Channel:        channel,
		From:           plainFrom,
		To:             plainTo,
		Body:           body,
		IdempotencyKey: r.Header.Get(twilioIdempotencyHeader),
		At:             now,
	})

	if d.AnswerLate && !answerLate(r.Context(), d.AnswerAfter) {
		return // accepted; the caller never learns it
	}
	cpaasJSON(w, http.StatusCreated, f.messageResource(Sent{MessageID: sid, Channel: channel, From: plainFrom, To: plainTo, Body: body, At: now}))
}

// messageResource is a message in Twilio's shape, as creating and listing answer it.
func (f *twilioFake) messageResource(m Sent) map[string]any {
	date := m.At.Format(time.RFC1123Z)
	uri := fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s", f.sid, m.MessageID)
	to, from := m.To, m.From
	if m.Channel == "whatsapp" {
		to, from = twilioWhatsApp+to, twilioWhatsApp+from
	}
	return map[string]any{
		"account_sid":           f.sid,
		"api_version":           "2010-04-01",
		"body":                  m.Body,
		"date_created":          date,
		"date_sent":             nil,
		"date_updated":          date,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  from,
		"messaging_service_sid": nil,
		"num_media":             "0",
		"num_segments":          "1",
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   m.MessageID,
		"status":                "queued",
		"subresource_uris":      map[string]string{"media": uri + "/Media.json"},
		"to":                    to,
		"uri":                   uri + ".json",
	}
}

// listMessages answers GET /2010-04-01/Accounts/{AccountSid}/Messages.json with one
// page of the messages this fake accepted, newest first, filtered by To and From as
// Twilio filters them (addresses as Twilio writes them, whatsapp: prefix included).
// PageSize bounds the page (default 50, at most 1000, as Twilio's); the fake serves
// a single page and no date filters.
func (f *twilioFake) listMessages(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.admit(w, r, r.PathValue("AccountSid")); !ok {
		return
	}
	q := r.URL.Query()
	size := 50
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeTwilioError(w, http.StatusBadRequest, 20001, "PageSize must be between 1 and 1000")
			return
		}
		size = n
	}
	all := f.outbox.List()
	page := []map[string]any{}
	for i := len(all) - 1; i >= 0 && len(page) < size; i-- {
		m := all[i]
		if m.Vendor != f.name {
			continue
		}
		res := f.messageResource(m)
		if (q.Has("To") && res["to"] != q.Get("To")) || (q.Has("From") && res["from"] != q.Get("From")) {
			continue
		}
		page = append(page, res)
	}
	uri := "/2010-04-01/Accounts/" + f.sid + "/Messages.json?" + r.URL.RawQuery
	cpaasJSON(w, http.StatusOK, map[string]any{
		"end": len(page) - 1, "first_page_uri": uri, "next_page_uri": nil, "page": 0, "page_size": size,
		"previous_page_uri": nil, "start": 0, "uri": uri, "messages": page,
	})
}

// answerLate holds the answer to an accepted send for after (0: until the caller
// gives up); it reports whether anyone is left to answer.
func answerLate(ctx context.Context, after time.Duration) bool {
	if after <= 0 {
		<-ctx.Done()
		return false
	}
	return cpaasWait(ctx, after)
}

// writeTwilioError answers as Twilio's REST API does, in the shape twilio-go decodes
// into a *client.TwilioRestError.
func writeTwilioError(w http.ResponseWriter, status, code int, message string) {
	cpaasJSON(w, status, map[string]any{
		"code":      code,
		"message":   message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		"status":    status,
	})
}

// cpaasFault carries out the parts of a fault decision that are the same for every
// HTTP fake: it drops the connection for Down and waits out Delay. It reports whether
// the handler should still answer; answering d.Status in the vendor's error shape is
// left to the handler.
func cpaasFault(w http.ResponseWriter, r *http.Request, d Decision) bool {
	if d.Down {
		cpaasDrop(w)
		return false
	}
	if d.Delay > 0 {
		// net/http notices a caller that hung up only once the request body has been
		// read to its end, so read it now (the handler reads the copy) for the wait to
		// end when the caller gives up rather than after the full delay.
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxCPaaSRequest+1))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !cpaasWait(r.Context(), d.Delay) {
			return false // the caller gave up; nobody is left to answer
		}
	}
	return true
}

// cpaasDrop closes the connection without an answer, which the client sees as the
// transport error of an unreachable vendor.
func cpaasDrop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot hijack; aborting the handler resets the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// cpaasWait sleeps for d unless ctx ends first; it reports whether the full delay
// passed.
func cpaasWait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func cpaasJSON(w http.ResponseWriter, status int, v any) {
	cpaasJSONType(w, status, "application/json", v)
}

func cpaasJSONType(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "fake: cannot encode answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func cpaasEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func cpaasHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
