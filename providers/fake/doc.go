// Package fake holds local servers that speak each vendor's real wire protocol:
// Dialogflow CX over gRPC, Twilio's and Vonage's REST APIs. The real vendor clients
// are pointed at them on 127.0.0.1, so tests and `switchboard dev` exercise the same
// code that talks to the vendors' clouds.
//
// Every fake obeys a shared set of fault switches (Faults) and the CPaaS fakes record
// what they were asked to send in an Outbox, duplicates included.
package fake
