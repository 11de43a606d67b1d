// Package drill rehearses an outage: it runs a scenario (a load shape and a fault
// timeline) against a Switchboard stack, records everything that happened, decides
// whether every promise held, and writes a report a person reads.
//
// The parts, one file each:
//   - scenario.go, validate.go: the scenario file, parsed strictly (errors name the
//     line), and checked against the routing policy and against the target: a
//     drill's own topology can have every fault, an existing stack given by URLs only
//     the vendor faults its fakes' /dev/faults can cause;
//   - process.go, topology.go: the drill's own topology, every part a process of
//     this binary (NATS, Temporal, the fake vendors, N workers, M apis), each of
//     which can be killed and restarted alone;
//   - load.go, agents.go: the customers (signed Twilio and Vonage webhooks, JSON API
//     turns, each retried with the same message id as a vendor retries) and the
//     agents who answer escalations at the desk;
//   - faults.go: the fault timeline, through the fakes' fault switches and signals;
//   - history.go, collect.go: the record, Jepsen-style: every webhook attempt and
//     its answer, every send that reached a fake with its idempotency key, every
//     escalation and desk action, the breakers over time, the transcripts and the
//     stuck list once the stack has settled;
//   - check.go: the checker, which reads only the record;
//   - figures.go, report.go, html.go, svg.go, summary.go: the figures, the JSON and
//     self-contained HTML reports and the one-screen summary;
//   - run.go: a drill from start to verdict, with its progress line.
package drill
