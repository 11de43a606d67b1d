package fake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/providers/twilio"
)

// Caller is a fake phone caller on a Twilio number: it requests the number's Voice
// URL as Twilio does and follows the TwiML it gets back. It speaks every <Say>
// (recording the text and when it was heard), answers each <Gather> with the next
// line of its script, follows <Redirect>, <Enqueue> and <Dial> and their action
// callbacks, signs every request with X-Twilio-Signature, gives a request Twilio's
// 15 s (or the URL's connection overrides, #ct=…&rt=…) and, on an error or a
// timeout, goes to the number's Fallback URL. Speech takes no time: what a test
// reads off the timestamps is the silence Switchboard left, not a voice's pace.
type Caller struct {
	VoiceURL    string // the number's Voice URL
	FallbackURL string // the number's Fallback URL; "" for none
	StatusURL   string // the number's status callback; "" for none
	AuthToken   string // the account's auth token, which signs the requests
	AccountSID  string
	From, To    string // the caller and the number called
	CallSID     string // "" for a fresh CA… id
	// Script is what the caller says at each <Gather>, in order: "" is silence
	// (an empty result), "dtmf:12" presses keys. When it runs out the caller
	// hangs up at the next <Gather>.
	Script []string
	// DialResults and QueueResults answer the hand-offs, in order: each <Dial>'s
	// DialCallStatus (default completed) and each <Enqueue>'s QueueResult
	// (default bridged).
	DialResults  []string
	QueueResults []string
	Client       *http.Client // nil: a plain client; each request has its own timeout
	// MaxSteps bounds the documents one call follows (default 200).
	MaxSteps int
}

// TwilioWebhookTimeout is how long Twilio waits for a webhook's answer without a
// connection override.
const TwilioWebhookTimeout = 15 * time.Second

// AppError is what Twilio says when neither a URL nor the Fallback URL answered.
const AppError = "We are sorry, an application error has occurred. Goodbye."

// Call is what happened on one call.
type Call struct {
	SID   string
	Heard []Heard
	// Spoke is when the caller finished each line of its script (the gather
	// request was posted), since the call began.
	Spoke []time.Duration
	// Requests are every webhook request, in order.
	Requests []CallRequest
	// Handoffs are the hand-offs the caller was put through: "enqueue WW…
	// {task}", "dial +1…", "sip sip:…", with the result the script gave.
	Handoffs []string
	// End says how the call ended: "hangup" (<Hangup/>), "end of TwiML",
	// "caller hung up", "application error", "handed off".
	End string
}

// Heard is one thing the caller heard, At its time since the call began.
type Heard struct {
	At   time.Duration
	Text string
}

// CallRequest is one webhook request of the call.
type CallRequest struct {
	URL      string // without the connection overrides
	At, Took time.Duration
	Status   int    // 0 when no answer came
	Err      string // why it failed
	Fallback bool   // a request to the Fallback URL
}

// HeardText lists the texts heard, in order.
func (c *Call) HeardText() []string {
	out := make([]string, len(c.Heard))
	for i, h := range c.Heard {
		out[i] = h.Text
	}
	return out
}

// LongestSilence is the longest time from a line the caller spoke to the next thing
// it heard: how long it was left in silence waiting for an answer. A line followed
// by nothing at all counts up to the end of the call, end.
func (c *Call) LongestSilence(end time.Duration) time.Duration {
	var longest time.Duration
	for _, spoke := range c.Spoke {
		next := end
		for _, h := range c.Heard {
			if h.At >= spoke {
				next = h.At
				break
			}
		}
		longest = max(longest, next-spoke)
	}
	return longest
}

// node is one TwiML element: attributes by name, since Twilio's library writes
// them in any order.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// run is one call in progress.
type run struct {
	c       *Caller
	call    *Call
	start   time.Time
	line    int
	dials   int
	queues  int
	client  *http.Client
	stopped bool
}

// Run makes the call and follows it to its end.
func (c *Caller) Run(ctx context.Context) (*Call, error) {
	r := &run{c: c, call: &Call{SID: c.CallSID}, start: time.Now(), client: c.Client}
	if r.call.SID == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		r.call.SID = "CA" + hex.EncodeToString(b)
	}
	if r.client == nil {
		r.client = &http.Client{}
	}
	max := c.MaxSteps
	if max == 0 {
		max = 200
	}
	doc, ok := r.fetch(ctx, c.VoiceURL, nil)
	for step := 0; ok && !r.stopped; step++ {
		if step >= max {
			return r.call, fmt.Errorf("the call followed %d documents without ending", max)
		}
		doc, ok = r.follow(ctx, doc)
	}
	if r.call.End == "" {
		r.call.End = "end of TwiML"
	}
	if c.StatusURL != "" {
		r.post(ctx, c.StatusURL, url.Values{"CallStatus": {"completed"}}, false)
	}
	return r.call, ctx.Err()
}

func (r *run) since() time.Duration { return time.Since(r.start) }

func (r *run) end(why string) {
	r.stopped = true
	if r.call.End == "" {
		r.call.End = why
	}
}

// follow executes one document's verbs; it returns the next document when a verb
// led to one.
func (r *run) follow(ctx context.Context, doc node) (node, bool) {
	for _, v := range doc.Children {
		switch v.XMLName.Local {
		case "Say":
			r.hear(v.Text)
		case "Pause":
		case "Gather":
			for _, inner := range v.Children {
				if inner.XMLName.Local == "Say" {
					r.hear(inner.Text)
				}
			}
			if r.line >= len(r.c.Script) {
				r.end("caller hung up")
				return node{}, false
			}
			line := r.c.Script[r.line]
			r.line++
			form := url.Values{}
			switch {
			case strings.HasPrefix(line, "dtmf:"):
				form.Set("Digits", strings.TrimPrefix(line, "dtmf:"))
			case line != "":
				form.Set("SpeechResult", line)
				form.Set("Confidence", "0.92")
			}
			r.call.Spoke = append(r.call.Spoke, r.since())
			if len(form) == 0 && v.attr("actionOnEmptyResult") != "true" {
				continue // Twilio goes on to the next verb
			}
			return r.fetch(ctx, v.attr("action"), form)
		case "Redirect":
			return r.fetch(ctx, strings.TrimSpace(v.Text), nil)
		case "Enqueue":
			result := next(r.c.QueueResults, &r.queues, "bridged")
			task := ""
			for _, inner := range v.Children {
				if inner.XMLName.Local == "Task" {
					task = " " + strings.TrimSpace(inner.Text)
				}
			}
			r.call.Handoffs = append(r.call.Handoffs, fmt.Sprintf("enqueue %s%s: %s", v.attr("workflowSid"), task, result))
			if a := v.attr("action"); a != "" {
				return r.fetch(ctx, a, url.Values{"QueueResult": {result}, "QueueTime": {"3"}})
			}
			if result == "bridged" {
				r.end("handed off")
				return node{}, false
			}
		case "Dial":
			result := next(r.c.DialResults, &r.dials, "completed")
			to := strings.TrimSpace(v.Text)
			kind := "dial"
			for _, inner := range v.Children {
				switch inner.XMLName.Local {
				case "Number":
					to = strings.TrimSpace(inner.Text)
				case "Sip":
					to, kind = strings.TrimSpace(inner.Text), "sip"
				}
			}
			r.call.Handoffs = append(r.call.Handoffs, fmt.Sprintf("%s %s: %s", kind, to, result))
			if a := v.attr("action"); a != "" {
				return r.fetch(ctx, a, url.Values{"DialCallStatus": {result}})
			}
			if result == "completed" {
				r.end("handed off")
				return node{}, false
			}
		case "Hangup":
			r.end("hangup")
			return node{}, false
		default:
			r.hear(AppError) // a verb this caller does not follow: Twilio would fail the call too
			r.end("application error: unsupported verb <" + v.XMLName.Local + ">")
			return node{}, false
		}
	}
	r.end("end of TwiML")
	return node{}, false
}

func next(list []string, i *int, def string) string {
	defer func() { *i++ }()
	if *i < len(list) {
		return list[*i]
	}
	return def
}

func (r *run) hear(text string) {
	r.call.Heard = append(r.call.Heard, Heard{At: r.since(), Text: strings.TrimSpace(text)})
}

// fetch requests a URL of the call and parses its TwiML, going to the Fallback URL
// when it fails; after a failed Fallback URL the caller hears Twilio's application
// error and the call ends.
func (r *run) fetch(ctx context.Context, u string, form url.Values) (node, bool) {
	doc, err := r.post(ctx, u, form, false)
	if err == nil {
		return doc, true
	}
	if r.c.FallbackURL != "" {
		fb := url.Values{"ErrorCode": {errorCode(err)}, "ErrorUrl": {stripOverrides(u)}}
		for k, v := range form {
			fb[k] = v
		}
		if doc, err := r.post(ctx, r.c.FallbackURL, fb, true); err == nil {
			return doc, true
		}
	}
	r.hear(AppError)
	r.end("application error")
	return node{}, false
}

var errTimeout = errors.New("timed out")

func errorCode(err error) string {
	if errors.Is(err, errTimeout) {
		return "11205"
	}
	return "11200"
}

// post signs and posts one webhook request with the call's parameters and form.
func (r *run) post(ctx context.Context, raw string, form url.Values, fallback bool) (node, error) {
	u, connect, read := overrides(raw)
	f := url.Values{
		"CallSid": {r.call.SID}, "AccountSid": {r.c.AccountSID}, "From": {r.c.From}, "To": {r.c.To},
		"CallStatus": {"in-progress"}, "Direction": {"inbound"}, "ApiVersion": {"2010-04-01"},
	}
	for k, v := range form {
		f[k] = v
	}
	rec := CallRequest{URL: u, At: r.since(), Fallback: fallback}
	defer func() { r.call.Requests = append(r.call.Requests, rec) }()
	rctx, cancel := context.WithTimeout(ctx, connect+read)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u, strings.NewReader(f.Encode()))
	if err != nil {
		rec.Err = err.Error()
		return node{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(r.c.AuthToken, u, f))
	resp, err := r.client.Do(req)
	rec.Took = r.since() - rec.At
	if err != nil {
		rec.Err = err.Error()
		if rctx.Err() != nil {
			return node{}, errTimeout
		}
		return node{}, err
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	rec.Took = r.since() - rec.At
	switch {
	case err != nil:
		rec.Err = err.Error()
		return node{}, errTimeout
	case resp.StatusCode == http.StatusNoContent:
		return node{}, nil
	case resp.StatusCode/100 != 2:
		rec.Err = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		return node{}, errors.New(rec.Err)
	}
	var doc node
	if err := xml.Unmarshal(body, &doc); err != nil || doc.XMLName.Local != "Response" {
		rec.Err = fmt.Sprintf("not TwiML: %q", body)
		return node{}, errors.New(rec.Err)
	}
	return doc, nil
}

// overrides splits Twilio's connection-override fragment off a URL: the connect
// and read timeouts, Twilio's defaults where it says nothing.
func overrides(raw string) (u string, connect, read time.Duration) {
	u, frag, _ := strings.Cut(raw, "#")
	connect, read = 5*time.Second, TwilioWebhookTimeout-5*time.Second
	q, err := url.ParseQuery(frag)
	if err != nil {
		return u, connect, read
	}
	ms := func(k string, d *time.Duration) {
		if n, err := strconv.Atoi(q.Get(k)); err == nil && n > 0 {
			*d = time.Duration(n) * time.Millisecond
		}
	}
	ms("ct", &connect)
	ms("rt", &read)
	return u, connect, read
}

func stripOverrides(raw string) string {
	u, _, _ := strings.Cut(raw, "#")
	return u
}
