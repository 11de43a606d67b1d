// Package messaging is the interface of the CPaaS providers (Twilio, Vonage, a
// business backend's webhook) that deliver replies to customers: Sender, its
// optional Finder, and the Receipt. The reply itself is the contract's
// turn.Message.
//
// It imports internal/turn and nothing else of the project.
package messaging

import (
	"context"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

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
	Send(ctx context.Context, m turn.Message) (Receipt, error)
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
	Find(ctx context.Context, m turn.Message, since time.Time) (Receipt, bool, error)
}
