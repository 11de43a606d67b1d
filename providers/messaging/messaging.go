// Package messaging is the contract between the conversation workflow and CPaaS
// providers (Twilio, Vonage, a chat backend's webhook) that deliver replies to
// customers.
package messaging

import (
	"context"
	"time"
)

// Message is one outbound reply.
type Message struct {
	Channel string // sms, whatsapp, ...: the provider maps it to its own addressing
	From    string // the business address the reply leaves from
	To      string // the customer's address
	Body    string
	// IdempotencyKey identifies this reply across retries (conversation + turn
	// sequence). Providers pass it to the vendor where the vendor's API has a place
	// for it, so a send can be traced and reconciled.
	IdempotencyKey string
	// ConversationID is the conversation the message belongs to, and TurnID the
	// customer turn it answers ("" for an agent's message or an escalation's final
	// message). A provider that delivers to a business's own backend (webhook)
	// passes them on, so the backend can place the reply; SMS vendors have no
	// place for them.
	ConversationID string
	TurnID         string
}

// Receipt is the vendor's acknowledgement of a send.
type Receipt struct {
	Provider  string
	MessageID string
}

// Sender sends a message.
//
// Implementations are safe for concurrent use, honour ctx's deadline and make exactly
// one attempt. Errors are classified with the providers package.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// Finder is an optional ability of a Sender: asking the vendor whether it holds a
// message. It settles a send whose outcome is unknown (providers.DeliveryUnknown)
// without sending it again blind.
//
// Find reports the vendor's receipt for a message from m.From to m.To with m.Body
// that the vendor created at or after since, and false if it holds none. An error
// means the vendor could not be asked; it is classified like Send's. Implementations
// are safe for concurrent use, honour ctx and make exactly one attempt.
type Finder interface {
	Find(ctx context.Context, m Message, since time.Time) (Receipt, bool, error)
}
