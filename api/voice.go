package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/twilio"
)

// Twilio Voice webhooks. A call is a conversation of voice turns on the same
// durable path as text: what the caller says at a <Gather> is a turn, published to
// JetStream and answered by the conversation workflow; the gather request waits
// for the outcome within the policy's voice budget and speaks its reply, or covers
// a late reply with the holding prompt and a redirect to the wait URL, which waits
// again, up to max_holds times. A call the bot cannot carry is handed off
// (handoff.go's options, in order); none of these answers ends in silence.

// noInput is the text of a gather that heard nothing: a turn like any other (the
// NLU finds no match, and a streak of them escalates).
const noInput = "(no input)"

// handoffFailedText is the text of the turn that records a call no hand-off option
// took.
const handoffFailedText = "(hand-off failed)"

// call is a verified Twilio Voice webhook of a call the policy can answer.
type call struct {
	form         url.Values
	sid          string
	from, to     string
	conversation string
	script       callScript
	voice        *routing.Voice
	started      time.Time // when the request arrived: the budget runs from here
}

// verifyCall reads, bounds and verifies a Twilio Voice webhook. It answers the
// request itself when it cannot go on: 413 or 400 for a bad body, 403 for a bad
// signature, 400 for a call to an address no business owns. A policy without a
// voice section gets the apology of the built-in defaults, never silence.
func (s *Server) verifyCall(w http.ResponseWriter, r *http.Request) (*call, bool) {
	c := &call{started: s.now()}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		bodyError(w, err)
		return nil, false
	}
	full := strings.TrimRight(s.cfg.PublicURL, "/") + r.URL.RequestURI()
	if !twilio.Verify(s.cfg.TwilioAuthToken, full, r.PostForm, r.Header.Get(twilio.SignatureHeader)) {
		s.cfg.Metrics.TurnsReceived.WithLabelValues("twilio", "rejected").Inc()
		s.log.Warn("twilio voice webhook rejected: missing or bad signature", "remote", r.RemoteAddr, "path", r.URL.Path)
		writeError(w, http.StatusForbidden, "missing or invalid X-Twilio-Signature")
		return nil, false
	}
	c.form = r.PostForm
	c.sid, c.from, c.to = c.form.Get("CallSid"), c.form.Get("From"), c.form.Get("To")
	for _, f := range []struct{ name, v string }{{"CallSid", c.sid}, {"From", c.from}, {"To", c.to}} {
		if f.v == "" {
			writeError(w, http.StatusBadRequest, "twilio voice webhook: "+f.name+" is missing")
			return nil, false
		}
	}
	var p *routing.Policy
	if s.cfg.Policy != nil {
		p = s.cfg.Policy.Current()
	}
	if p == nil || p.Voice == nil {
		s.log.Error("call answered with an apology: the routing policy has no voice section", "call", c.sid)
		v := &routing.Voice{Apology: routing.DefaultVoiceApology, Budget: routing.DefaultVoiceBudget}
		writeTwiML(w, []twiml.Element{newCallScript(s.cfg.PublicURL, v).say(v.Apology), twiml.VoiceHangup{}})
		return nil, false
	}
	if p.BusinessByAddress(c.to) == nil {
		s.knownBusiness(w, r, turn.Turn{ID: turn.CallTurnID(turn.VendorTwilio, c.sid, "0"), Vendor: turn.VendorTwilio, Channel: turn.ChannelVoice, To: c.to})
		return nil, false
	}
	c.voice = p.Voice
	c.script = newCallScript(s.cfg.PublicURL, p.Voice)
	c.conversation = turn.CallConversationID(turn.VendorTwilio, c.sid, c.from, c.to, p.Voice.PerCaller)
	return c, true
}

// voiceCall is the number's Voice URL: the greeting and the first gather.
func (s *Server) voiceCall(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verifyCall(w, r)
	if !ok {
		return
	}
	s.log.Info("call answered", "call", c.sid, "conversation", c.conversation)
	writeTwiML(w, c.script.greeting())
}

// voiceGather takes what the caller said at gather n (n in the signed action URL:
// Twilio's retry of the same request is the same turn) and answers it.
func (s *Server) voiceGather(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verifyCall(w, r)
	if !ok {
		return
	}
	n, ok := queryInt(w, r, "n", 1, maxCallTurns)
	if !ok {
		return
	}
	text := strings.TrimSpace(c.form.Get("SpeechResult"))
	if text == "" {
		text = strings.TrimSpace(c.form.Get("Digits"))
	}
	if text == "" {
		text = noInput
	}
	if len(text) > turn.MaxTextBytes {
		text = text[:turn.MaxTextBytes]
	}
	t := c.turn(strconv.Itoa(n), text, s.now())
	if err := t.ValidateIngress(); err != nil {
		writeError(w, http.StatusBadRequest, "twilio voice webhook: "+err.Error())
		return
	}
	ctx, cancel := context.WithDeadline(r.Context(), c.deadline())
	defer cancel()
	waiter, dup, err := s.publishWaiting(ctx, t)
	if err != nil {
		// Without the turn store nothing can answer the caller: hand off now
		// rather than let the caller wait for a reply that cannot come.
		s.log.Error("call handed off: its turn could not be stored", "call", c.sid, "conversation", c.conversation, "error", err)
		writeTwiML(w, c.script.fallback(c.conversation))
		return
	}
	defer waiter.Close()
	s.answer(w, c, n, 0, s.outcomeOf(ctx, waiter, t, dup))
}

// voiceWait is the wait URL: the reply to turn n was late at the hold-th hold; it
// waits for it again within the budget.
func (s *Server) voiceWait(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verifyCall(w, r)
	if !ok {
		return
	}
	n, ok := queryInt(w, r, "n", 1, maxCallTurns)
	if !ok {
		return
	}
	hold, ok := queryInt(w, r, "hold", 1, maxCallTurns)
	if !ok {
		return
	}
	t := c.turn(strconv.Itoa(n), "", time.Time{})
	ctx, cancel := context.WithDeadline(r.Context(), c.deadline())
	defer cancel()
	waiter, err := s.waitFor(t)
	if err != nil {
		s.log.Error("call handed off: its reply cannot be waited for", "call", c.sid, "conversation", c.conversation, "error", err)
		writeTwiML(w, c.script.handoff(0, c.conversation))
		return
	}
	defer waiter.Close()
	s.answer(w, c, n, hold, s.outcomeOf(ctx, waiter, t, true))
}

// answer speaks the outcome of turn n, or, with none yet, holds once more or,
// after the policy's max_holds, hands the call off.
func (s *Server) answer(w http.ResponseWriter, c *call, n, holds int, o *turn.Outcome) {
	switch {
	case o == nil && holds < c.voice.MaxHolds:
		writeTwiML(w, c.script.hold(n, holds+1))
	case o == nil:
		s.log.Warn("call handed off: its reply is later than every hold", "call", c.sid, "conversation", c.conversation, "turn", n, "holds", holds)
		writeTwiML(w, c.script.handoff(0, c.conversation))
	case o.Escalation != "" || o.Status == turn.StatusForwarded:
		var els []twiml.Element
		if o.Reply != "" {
			els = append(els, c.script.say(o.Reply))
		}
		writeTwiML(w, append(els, c.script.handoff(0, c.conversation)...))
	default:
		writeTwiML(w, c.script.reply(n, o.Reply))
	}
}

// turn is the call's turn of the given step.
func (c *call) turn(step, text string, at time.Time) turn.Turn {
	return turn.Turn{
		ID: turn.CallTurnID(turn.VendorTwilio, c.sid, step), ConversationID: c.conversation,
		Vendor: turn.VendorTwilio, Channel: turn.ChannelVoice, From: c.from, To: c.to, Text: text, ReceivedAt: at.UTC(),
	}
}

// deadline is when the answer must be written: the budget from the request's
// arrival, less a margin for writing it.
func (c *call) deadline() time.Time { return c.started.Add(c.voice.Budget - c.voice.Budget/20) }

// maxCallTurns bounds the turn and hold numbers of a call's action URLs.
const maxCallTurns = 10000

// queryInt reads a signed action URL's number; it answers 400 itself when the
// number is missing or out of range.
func queryInt(w http.ResponseWriter, r *http.Request, name string, lo, hi int) (int, bool) {
	v, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || v < lo || v > hi {
		writeError(w, http.StatusBadRequest, "twilio voice webhook: the action URL's "+name+" must be a number between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi))
		return 0, false
	}
	return v, true
}

func writeTwiML(w http.ResponseWriter, els []twiml.Element) {
	doc, err := twiml.Voice(els)
	if err != nil {
		// The builders only write strings: this cannot fail, but the caller must
		// hear something if it ever did.
		doc = `<?xml version="1.0" encoding="UTF-8"?><Response><Say>` + routing.DefaultVoiceApology + `</Say></Response>`
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, doc)
}
