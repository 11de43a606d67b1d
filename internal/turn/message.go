package turn

// Message is one outbound reply, as the conversation workflow hands it to a CPaaS
// provider (providers/messaging.Sender).
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

// NoMatch is the intent an NLU provider reports when it matched nothing.
const NoMatch = "no-match"
