// Package bench measures Switchboard end to end on the embedded dev stack, in the
// process that runs it, and compares it with a bare Temporal design. It backs
// `switchboard bench`.
//
// Run starts devstack.Run (NATS with JetStream, Temporal on SQLite, the fake vendors,
// the worker and the API, all on random loopback ports) and then runs four phases:
//
//  1. throughput: closed loop. --concurrency conversations at a time each send their
//     turns one by one as signed Twilio webhooks; a conversation sends its next turn
//     once the previous reply reached the fake Twilio's outbox. Replies are matched
//     to their turn by the customer address, unique per conversation. Latency runs
//     from the webhook POST to the moment the fake recorded the reply (fake.Sent.At),
//     reported separately for first turns (which start the conversation's workflow)
//     and later turns.
//  2. half load: open loop at half the turns/s of phase 1, for a bounded time, over
//     the conversations of phase 1.
//  3. baseline: the same number of turns, at the same concurrency, through a bare
//     Temporal design: one workflow per turn whose two provider calls (Dialogflow CX
//     Detect, Twilio Send) are regular activities, on its own task queue and worker in
//     the same embedded Temporal server, against its own instance of the same fakes.
//     Latency runs from ExecuteWorkflow to the return of Get.
//  4. memory: opens --idle-conversations conversations with one turn each, waits
//     for every reply, forces a GC and reports the growth of the process's resident
//     set (VmRSS) per idle conversation. The embedded Temporal server, NATS and the
//     fakes live in the same process, so their share is counted too.
//
// The stack keeps its state in a fresh temporary data dir by default (as `switchboard
// dev` does: SQLite in WAL mode, JetStream file storage), because that is the
// deployed shape: conversation state lives in a database, not in the worker's heap.
// Config.InMemory measures the in-memory stack of the tests instead.
//
// It runs on internal/devstack, so it carries the Temporal server: only
// cmd/switchboard's bench command imports it (left out of the slim build), and no
// package of the production roles may.
package bench
