package api

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/twilio/twilio-go/twiml"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// twilioMessaging takes Twilio's incoming-message webhook (SMS and WhatsApp).
func (s *Server) twilioMessaging(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		bodyError(w, err)
		return
	}
	url := strings.TrimRight(s.cfg.PublicURL, "/") + r.URL.RequestURI()
	if !twilio.Verify(s.cfg.TwilioAuthToken, url, r.PostForm, r.Header.Get(twilio.SignatureHeader)) {
		s.cfg.Metrics.TurnsReceived.WithLabelValues("twilio", "rejected").Inc()
		s.log.Warn("twilio webhook rejected: missing or bad signature", "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "missing or invalid X-Twilio-Signature")
		return
	}
	in, err := twilio.ParseInbound(r.PostForm)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := turn.Turn{
		ID:             turn.ID(turn.VendorTwilio, in.MessageSID),
		ConversationID: turn.ConversationID(turn.VendorTwilio, in.Channel, in.From, in.To),
		Vendor:         turn.VendorTwilio, Channel: in.Channel, From: in.From, To: in.To, Text: in.Body,
		ReceivedAt: s.now().UTC(),
	}
	if err := t.ValidateIngress(); err != nil {
		writeError(w, http.StatusBadRequest, "twilio inbound webhook: "+err.Error())
		return
	}
	if !s.knownBusiness(w, r, t) {
		return
	}
	if _, err := s.publish(r.Context(), t); err != nil {
		writeUnavailable(w)
		return
	}
	// The reply goes out through the REST API once the workflow has it, so the
	// webhook answers with an empty TwiML document.
	doc, err := twiml.Messages(nil)
	if err != nil {
		doc = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, doc)
}

// vonageInbound takes the Vonage Messages API inbound webhook.
func (s *Server) vonageInbound(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	tok, err := vonage.VerifyToken(s.cfg.VonageSignatureSecret, r.Header.Get("Authorization"), body, s.now(), s.cfg.VonageMaxTokenAge)
	if err != nil {
		s.cfg.Metrics.TurnsReceived.WithLabelValues("vonage", "rejected").Inc()
		s.log.Warn("vonage webhook rejected: bad signature", "remote", r.RemoteAddr, "error", err)
		writeError(w, http.StatusUnauthorized, "missing or invalid signature: "+err.Error())
		return
	}
	in, err := vonage.ParseInbound(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := turn.Turn{
		ID:             turn.ID(turn.VendorVonage, in.MessageUUID),
		ConversationID: turn.ConversationID(turn.VendorVonage, in.Channel, in.From, in.To),
		Vendor:         turn.VendorVonage, Channel: in.Channel, From: in.From, To: in.To, Text: in.Text,
		ReceivedAt: s.now().UTC(),
	}
	if err := t.ValidateIngress(); err != nil {
		writeError(w, http.StatusBadRequest, "vonage inbound webhook: "+err.Error())
		return
	}
	if !s.knownBusiness(w, r, t) {
		return
	}
	if !s.claimToken(w, r, turn.VendorVonage, tok.ID) {
		return
	}
	if _, err := s.publish(r.Context(), t); err != nil {
		s.forgetToken(r.Context(), turn.VendorVonage, tok.ID)
		writeUnavailable(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"turn_id": t.ID})
}

// claimToken records a verified webhook token's id, and answers the request itself
// when it cannot go on: 401 for a token seen before (a replay), 503 when the record
// cannot be checked (the vendor retries).
func (s *Server) claimToken(w http.ResponseWriter, r *http.Request, vendor, id string) bool {
	if s.tokens == nil {
		s.log.Error(vendor + " webhook not accepted: no store of seen webhook tokens")
		writeUnavailable(w)
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PublishTimeout)
	defer cancel()
	fresh, err := s.tokens.Claim(ctx, vendor, id)
	if err != nil {
		s.cfg.Metrics.TurnsReceived.WithLabelValues(vendor, "unavailable").Inc()
		s.log.Error(vendor+" webhook not accepted: could not check its token against replays", "error", err)
		writeUnavailable(w)
		return false
	}
	if !fresh {
		s.cfg.Metrics.TurnsReceived.WithLabelValues(vendor, "replayed").Inc()
		s.log.Warn(vendor+" webhook rejected: its token was used before (a replay)", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "invalid signature: this token (jti) was used before")
		return false
	}
	return true
}

// forgetToken releases a claimed token id whose webhook was not stored, so that
// the vendor's retry with the same token is accepted.
func (s *Server) forgetToken(ctx context.Context, vendor, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	if err := s.tokens.Forget(ctx, vendor, id); err != nil {
		s.log.Error(vendor+" webhook: could not release the token of a turn that was not stored; a retry with the same token will be refused", "error", err)
	}
}
