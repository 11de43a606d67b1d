// Package workers runs Switchboard's background work:
//
//   - Bridge, the durable JetStream consumer that hands each turn to its conversation
//     workflow with update-with-start and acks only after Temporal accepted it;
//   - the Temporal worker (NewWorker) that runs conversation workflows;
//   - Activities, the workflow's only access to the world: routing, NLU, CPaaS sends
//     guarded by the SendLedger, and turn outcome events;
//   - Stuck, which finds stuck conversations (turns held in JetStream, recorded by
//     the bridge in HeldTurns; conversations that report themselves stuck; workflow
//     tasks that keep failing), sweeps for them and replays them;
//   - the stack canary's activity (CanaryActivity).
package workers
