package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
)

// turnRequest is the body of POST /v1/turns.
type turnRequest struct {
	ConversationID string `json:"conversation_id,omitempty"`
	MessageID      string `json:"message_id"`
	Channel        string `json:"channel"`
	From           string `json:"from"`
	To             string `json:"to"`
	Text           string `json:"text"`
}

// turnResponse answers POST /v1/turns: with only the ids while the turn is being
// processed (202), and with its outcome when the caller waited for it (200).
type turnResponse struct {
	TurnID         string `json:"turn_id"`
	ConversationID string `json:"conversation_id"`
	Duplicate      bool   `json:"duplicate,omitempty"`
	Status         string `json:"status"` // accepted, or the outcome's status
	Reply          string `json:"reply,omitempty"`
	Intent         string `json:"intent,omitempty"`
	NLUProvider    string `json:"nlu_provider,omitempty"`
	CPaaSProvider  string `json:"cpaas_provider,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

func (s *Server) postTurn(w http.ResponseWriter, r *http.Request) {
	wait, err := s.parseWait(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := decodeTurnRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := turn.Turn{
		ID:             turn.ID(turn.VendorAPI, req.MessageID),
		ConversationID: req.ConversationID,
		Vendor:         turn.VendorAPI, Channel: req.Channel, From: req.From, To: req.To, Text: req.Text,
		ReceivedAt: s.now().UTC(),
	}
	if t.ConversationID == "" {
		t.ConversationID = turn.ConversationID(turn.VendorAPI, req.Channel, req.From, req.To)
	}
	if err := t.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The JSON API speaks only in its own conversations: a Twilio or Vonage
	// conversation id is computable by anyone who knows both phone numbers.
	if req.ConversationID != "" && !turn.InNamespace(turn.VendorAPI, req.ConversationID) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("conversation_id must begin with %q: the JSON API can post only to its own conversations, never to a Twilio or Vonage one", turn.NamespacePrefix(turn.VendorAPI)))
		return
	}
	// Replies to API turns leave only from a business's own addresses (the routing
	// policy's businesses); say so now rather than record a turn nobody can answer.
	if !s.knownBusiness(w, r, t) {
		return
	}
	if err := t.ValidateAddresses(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp := turnResponse{TurnID: t.ID, ConversationID: t.ConversationID, Status: "accepted"}

	if wait <= 0 {
		dup, err := s.publish(r.Context(), t)
		if err != nil {
			writeUnavailable(w)
			return
		}
		resp.Duplicate = dup
		writeJSON(w, http.StatusAccepted, resp)
		return
	}

	waiter, dup, err := s.publishWaiting(r.Context(), t)
	if err != nil {
		writeUnavailable(w)
		return
	}
	defer waiter.Close()
	resp.Duplicate = dup
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	o := s.outcomeOf(ctx, waiter, t, dup)
	if o == nil {
		writeJSON(w, http.StatusAccepted, resp) // the turn carries on without the caller
		return
	}
	writeJSON(w, http.StatusOK, withOutcome(resp, *o))
}

// waitFor subscribes to the outcome of t.
func (s *Server) waitFor(t turn.Turn) (*streams.OutcomeWaiter, error) {
	if s.nc == nil {
		return nil, errors.New("no NATS connection")
	}
	return streams.WaitForOutcome(s.nc, t.ConversationID, t.ID)
}

// publishWaiting stores t with a waiter for its outcome subscribed first, so that
// a fast outcome cannot slip past. Close the waiter.
func (s *Server) publishWaiting(ctx context.Context, t turn.Turn) (*streams.OutcomeWaiter, bool, error) {
	waiter, err := s.waitFor(t)
	if err != nil {
		return nil, false, err
	}
	dup, err := s.publish(ctx, t)
	if err != nil {
		waiter.Close()
		return nil, false, err
	}
	return waiter, dup, nil
}

// outcomeOf waits for t's outcome until ctx ends; nil if none came. With lookup
// (a duplicate, or a second wait for the same turn), the outcome may have been
// published before the waiter subscribed, so the transcript is read first.
func (s *Server) outcomeOf(ctx context.Context, waiter *streams.OutcomeWaiter, t turn.Turn, lookup bool) *turn.Outcome {
	if lookup {
		if o, ok := s.processedOutcome(ctx, t); ok {
			return &o
		}
	}
	o, err := waiter.Wait(ctx)
	if err != nil {
		return nil
	}
	return &o
}

func withOutcome(r turnResponse, o turn.Outcome) turnResponse {
	r.Status, r.Reply, r.Intent, r.NLUProvider, r.CPaaSProvider, r.Reason = o.Status, o.Reply, o.Intent, o.NLUProvider, o.CPaaSProvider, o.Reason
	return r
}

// processedOutcome looks the turn up in its conversation's transcript.
func (s *Server) processedOutcome(ctx context.Context, t turn.Turn) (turn.Outcome, bool) {
	if s.convs == nil {
		return turn.Outcome{}, false
	}
	tr, err := s.convs.Transcript(ctx, t.ConversationID)
	if err != nil {
		return turn.Outcome{}, false
	}
	for _, o := range tr.Turns {
		if o.TurnID == t.ID {
			return o, true
		}
	}
	return turn.Outcome{}, false
}

func (s *Server) parseWait(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("wait must be a duration such as 2s, got %q", v)
	}
	if d > s.cfg.MaxWait {
		return 0, fmt.Errorf("wait must be at most %s", s.cfg.MaxWait)
	}
	return d, nil
}

// strictJSON decodes exactly one JSON value with no unknown fields, with errors
// that name the field.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field == "" {
				return fmt.Errorf("malformed JSON: the body must be an object, not %s", typeErr.Value)
			}
			return fmt.Errorf("%s must be a %s", typeErr.Field, typeErr.Type)
		}
		return fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: more than one value in the body")
	}
	return nil
}

func decodeTurnRequest(body []byte) (turnRequest, error) {
	var req turnRequest
	if err := strictJSON(body, &req); err != nil {
		return req, err
	}
	for _, f := range []struct{ name, v string }{
		{"message_id", req.MessageID}, {"channel", req.Channel}, {"from", req.From}, {"to", req.To}, {"text", req.Text},
	} {
		if strings.TrimSpace(f.v) == "" {
			return req, fmt.Errorf("%s is required", f.name)
		}
	}
	if len(req.MessageID) > 200 {
		return req, errors.New("message_id must be at most 200 characters")
	}
	if !turn.ValidMessageID(req.MessageID) {
		return req, errors.New("message_id must not begin or end with white space, nor hold control characters")
	}
	return req, nil
}
