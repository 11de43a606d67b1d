// Package bridge hands turns from JetStream to Temporal: Bridge reads the turns
// stream through one durable consumer per partition, each handing out one turn at a
// time (so a conversation's turns reach its workflow in stream order across any
// number of workers and kills), hands each turn to its conversation workflow with
// update-with-start and acks only after Temporal accepted it (see Bridge for faults,
// dead letters and the migration from the single consumer of earlier versions).
// HeldTurns is the registry, in the KV bucket turn.HeldBucket, of the turns the
// bridge could not hand over for longer than stuck_after, which package
// workers/stuck reports and replays.
//
// It imports workflows (the turn update and its answer), internal/turn,
// internal/streams and internal/metrics; never api, internal/app, the providers or
// the other worker packages.
package bridge
