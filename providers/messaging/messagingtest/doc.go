// Package messagingtest is the contract every messaging.Sender must meet, written once
// and run against each CPaaS integration wired to its fake.
//
// It exists because failover is only as good as the sameness of the providers it
// switches between: if Twilio calls a dropped connection ErrUnavailable and Vonage
// calls it something else, the workflow fails over for one vendor and not the other.
// Each vendor package runs Run from its tests; a new vendor gets the whole contract by
// writing a Harness.
//
// It imports internal/turn and the providers packages (the contract, the fakes) of
// the project; nothing above them.
package messagingtest
