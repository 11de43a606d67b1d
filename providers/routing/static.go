// Package routing decides which providers serve a turn, and in what order.
//
// This first version routes statically: the NLU providers in a fixed order, and the
// reply through the CPaaS vendor the conversation came in on (turns from the JSON API
// use a configured default vendor). The reply leaves from the business address the
// customer wrote to.
package routing

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Static is a fixed routing table. It is safe for concurrent use once built.
type Static struct {
	// NLU providers, tried in order.
	NLU []string
	// APIVendor is the CPaaS vendor that replies to JSON-API turns.
	APIVendor string
	// FallbackReply is sent when no NLU provider answered.
	FallbackReply string
	// LanguageCode of NLU queries.
	LanguageCode string
	// NLUAttempt and CPaaSAttempt bound each provider attempt.
	NLUAttempt   workflows.Attempt
	CPaaSAttempt workflows.Attempt
}

// DefaultFallbackReply is what the customer hears when no NLU provider could answer.
const DefaultFallbackReply = "Sorry, we're having technical difficulties. A member of our team will get back to you shortly."

// Validate fills defaults and reports the first bad field. known tells which
// providers are configured.
func (s *Static) Validate(known func(name string) bool) error {
	if s.FallbackReply == "" {
		s.FallbackReply = DefaultFallbackReply
	}
	if s.LanguageCode == "" {
		s.LanguageCode = "en"
	}
	if s.NLUAttempt.Timeout == 0 {
		s.NLUAttempt = workflows.Attempt{Timeout: 5 * time.Second, MaxAttempts: 2}
	}
	if s.CPaaSAttempt.Timeout == 0 {
		s.CPaaSAttempt = workflows.Attempt{Timeout: 5 * time.Second, MaxAttempts: 2}
	}
	if len(s.NLU) == 0 {
		return fmt.Errorf("routing: NLU must name at least one provider")
	}
	for _, p := range s.NLU {
		if !known(p) {
			return fmt.Errorf("routing: NLU provider %q is not configured", p)
		}
	}
	if s.APIVendor != turn.VendorTwilio && s.APIVendor != turn.VendorVonage {
		return fmt.Errorf("routing: APIVendor must be twilio or vonage, got %q", s.APIVendor)
	}
	if !known(s.APIVendor) {
		return fmt.Errorf("routing: APIVendor %q is not configured", s.APIVendor)
	}
	return nil
}

// Route returns the providers for a turn of a conversation.
func (s *Static) Route(_ context.Context, in workflows.RouteInput) (workflows.Route, error) {
	r := workflows.Route{FallbackReply: s.FallbackReply, LanguageCode: s.LanguageCode}
	for _, p := range s.NLU {
		r.NLU = append(r.NLU, workflows.NLUCandidate{Provider: p, Attempt: s.NLUAttempt})
	}
	vendor, channel := in.Vendor, in.Channel
	if vendor == turn.VendorAPI {
		vendor = s.APIVendor
	}
	if channel != turn.ChannelWhatsApp {
		// CPaaS vendors carry text replies of chat and voice turns as SMS.
		channel = turn.ChannelSMS
	}
	r.CPaaS = []workflows.CPaaSCandidate{{Provider: vendor, Channel: channel, From: in.From, Attempt: s.CPaaSAttempt}}
	return r, nil
}
