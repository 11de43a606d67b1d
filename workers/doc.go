// Package workers runs Switchboard's background work:
//
//   - Bridge, which reads the turns stream through one durable JetStream consumer
//     per partition, each handing out one turn at a time (so a conversation's turns
//     reach its workflow in stream order across any number of workers and kills),
//     hands each turn to its conversation workflow with update-with-start and acks
//     only after Temporal accepted it (see Bridge for faults and the migration from
//     the single consumer of earlier versions);
//   - the Temporal worker (NewWorker) that runs conversation workflows;
//   - Activities, the workflow's only access to the world: routing (PolicyRouter, which
//     leaves out providers whose breaker is open and forces every CPaaS provider when
//     all of them are), NLU, CPaaS sends guarded by the SendLedger, and turn outcome
//     events. Every provider attempt passes through Guard: the breaker check, the
//     policy's reclassification, and the record that feeds breakers and metrics;
//   - SendLedger, which keeps a reply from reaching the customer twice: a send of
//     unknown outcome is settled by asking the vendor before anything is sent again;
//   - Stuck, which finds stuck conversations (turns held in JetStream, recorded by
//     the bridge in HeldTurns; conversations that report themselves stuck; workflow
//     tasks that keep failing), sweeps for them, replays them on request, and
//     re-sends unanswered replies by itself once a CPaaS provider is back (Redrive);
//   - the stack canary's activity (CanaryActivity).
//
// It imports workflows (names and types of the activity contract), providers and
// internal packages; never api or internal/app.
package workers
