// Package workers runs Switchboard's background work:
//
//   - Bridge, which reads the turns stream through one durable JetStream consumer
//     per partition, each handing out one turn at a time (so a conversation's turns
//     reach its workflow in stream order across any number of workers and kills),
//     hands each turn to its conversation workflow with update-with-start and acks
//     only after Temporal accepted it (see Bridge for faults and the migration from
//     the single consumer of earlier versions);
//   - the Temporal worker (NewWorker) that runs conversation workflows;
//   - Activities, the workflow's only access to the world: routing, NLU, CPaaS sends
//     guarded by the SendLedger, and turn outcome events;
//   - Stuck, which finds stuck conversations (turns held in JetStream, recorded by
//     the bridge in HeldTurns; conversations that report themselves stuck; workflow
//     tasks that keep failing), sweeps for them and replays them;
//   - the stack canary's activity (CanaryActivity).
package workers
