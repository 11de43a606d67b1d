// Package auth says who may call Switchboard's listeners: the bearer tokens and
// their roles (ops, agent, ingress), the middleware that lets a request through
// only with a token of a role the endpoint allows (Require), and the memory of the
// webhook tokens (Vonage JWT ids) already accepted, so that a replayed webhook is
// refused (SeenTokens). The API and the worker role's health and metrics listener
// use the same checks, and app builds the token table from the settings (FromLists).
//
// Every token is compared in constant time, and none is ever written to a response
// or a log.
//
// It knows HTTP, NATS JetStream (for SeenTokens) and the stream names of
// internal/streams; it must not import api, app, workers, workflows or providers.
package auth
