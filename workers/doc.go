// Package workers runs the conversation workflow's side of the world:
//
//   - the Temporal worker (NewWorker) that runs the conversation and canary
//     workflows and registers their activities;
//   - Activities, the workflow's only access to the world: routing (PolicyRouter, which
//     leaves out providers whose breaker is open and forces every CPaaS provider when
//     all of them are), NLU, CPaaS sends guarded by the SendLedger, and turn outcome
//     events. Every provider attempt passes through Guard: the breaker check, the
//     policy's reclassification, and the record that feeds breakers and metrics;
//   - SendLedger, which keeps a reply from reaching the customer twice: a send of
//     unknown outcome is settled by asking the vendor before anything is sent again;
//   - the stack canary's activity (CanaryActivity).
//
// Its subpackages do the rest of a worker's background work: bridge (JetStream →
// Temporal, and the held-turn registry) and stuck (finding, sweeping and replaying
// stuck conversations).
//
// It imports workflows (the names and types of the activity contract), providers,
// internal/turn and the internal ops packages; never api, internal/app or its own
// subpackages.
package workers
