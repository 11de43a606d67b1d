package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/twilio/twilio-go/twiml"
)

// Hand-off of a call, and the webhooks that need neither NATS nor Temporal: the
// hand-off options' action callbacks and the number's Fallback URL are answered
// from the policy alone, so that a caller is handed to a person even while the
// stack behind the API is down.

// handoffEscalation is the reason recorded when no hand-off option took a call.
const handoffEscalation = "the call could not be handed to anyone: call the customer back"

// voiceHandoff is the action callback of hand-off option opt: done when the option
// took the call, else the next option, and after the last one the final message.
func (s *Server) voiceHandoff(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verifyCall(w, r)
	if !ok {
		return
	}
	k, ok := queryInt(w, r, "opt", 0, len(c.voice.Handoff)-1)
	if !ok {
		return
	}
	if handedOff(c.form) {
		writeTwiML(w, []twiml.Element{twiml.VoiceHangup{}})
		return
	}
	s.log.Warn("call hand-off option failed; trying the next", "call", c.sid, "conversation", c.conversation, "option", k,
		"dial_status", c.form.Get("DialCallStatus"), "queue_result", c.form.Get("QueueResult"))
	if k+1 >= len(c.voice.Handoff) {
		s.recordUnreached(r.Context(), c)
	}
	writeTwiML(w, c.script.handoff(k+1, c.conversation))
}

// handedOff reports whether a hand-off's action callback says the option took the
// call: a dial that was answered, or a queue that bridged the caller to an agent
// (or that the caller left by hanging up).
func handedOff(form url.Values) bool {
	switch form.Get("DialCallStatus") {
	case "completed", "answered":
		return true
	}
	switch form.Get("QueueResult") {
	case "bridged", "bridging-in-process", "hangup", "redirected":
		return true
	}
	return false
}

// recordUnreached records, as a turn of the call carrying Escalate, that no
// hand-off option took it: the conversation escalates so that a person calls the
// customer back. Best effort within the budget: the caller hears the final message
// whatever happens, and a failure is logged with the conversation to call back.
func (s *Server) recordUnreached(ctx context.Context, c *call) {
	t := c.turn("handoff-failed", handoffFailedText, s.now())
	t.Escalate = handoffEscalation
	ctx, cancel := context.WithDeadline(ctx, c.deadline())
	defer cancel()
	if _, err := s.publish(ctx, t); err != nil {
		s.log.Error("call reached no one and the escalation could not be recorded: call the customer back",
			"call", c.sid, "conversation", c.conversation, "from", c.from, "error", err)
	}
}

// voiceFallback is the number's Fallback URL, which Twilio requests when the Voice
// URL or an action failed or timed out: the apology and the hand-off options.
func (s *Server) voiceFallback(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verifyCall(w, r)
	if !ok {
		return
	}
	s.log.Warn("call on the Fallback URL", "call", c.sid, "conversation", c.conversation,
		"error_code", c.form.Get("ErrorCode"), "error_url", c.form.Get("ErrorUrl"))
	writeTwiML(w, c.script.fallback(c.conversation))
}

// voiceStatus is the number's status callback. A call that ended is logged with
// its status; the conversation keeps its transcript.
func (s *Server) voiceStatus(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verifyCall(w, r)
	if !ok {
		return
	}
	s.log.Info("call ended", "call", c.sid, "conversation", c.conversation, "status", c.form.Get("CallStatus"))
	w.WriteHeader(http.StatusNoContent)
}

// voiceRoutes mounts the Twilio Voice webhooks.
func (s *Server) voiceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+VoicePath, s.voiceCall)
	mux.HandleFunc("POST "+VoiceGatherPath, s.voiceGather)
	mux.HandleFunc("POST "+VoiceWaitPath, s.voiceWait)
	mux.HandleFunc("POST "+VoiceHandoffPath, s.voiceHandoff)
	mux.HandleFunc("POST "+VoiceStatusPath, s.voiceStatus)
	mux.HandleFunc("POST "+VoiceFallbackPath, s.voiceFallback)
}
