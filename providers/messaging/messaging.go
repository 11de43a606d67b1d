// Package messaging is the contract between the conversation workflow and CPaaS
// providers (Twilio, Vonage) that deliver replies to customers.
package messaging

import "context"

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
