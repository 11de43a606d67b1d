/*
Package health keeps a circuit breaker per provider, shares the breakers' states and
the operators' overrides between every worker, and probes tripped providers until they
are back.

# Why

A vendor that is down costs every turn routed to it a full attempt timeout before the
failover. The router asks Registry.Allow first and skips a tripped provider at once;
the activities Record every attempt's result, so the breaker learns from live traffic.

# The breaker

Each provider has a failsafe-go circuit breaker (github.com/failsafe-go/failsafe-go
circuitbreaker), configured by BreakerSettings. It trips (opens) on

  - ConsecutiveFailures failures in a row (default 5, as Envoy's outlier detection),
  - a failure rate of at least FailureRate within Window, once MinCalls calls were
    made in it (default 50% over 60 s, 10 calls; LiteLLM cools a deployment down on
    failures within a minute),
  - slow calls: with SlowCall set, an answer slower than SlowCall is a failure.

It stays open for OpenFor (default 30 s, Portkey's minimum cooldown), then turns
half-open: HalfOpenSuccesses trial calls are let through, and as many successes in a
row close it, while one failure opens it again. failsafe-go thresholds one breaker
either by count or by rate, so the rate is watched by a second, time-based failsafe-go
breaker used as a detector: when it trips, the main breaker is opened.

Only failures that say something about the provider count: providers.ErrUnavailable,
ErrTimeout (and an attempt's context.DeadlineExceeded) and ErrRateLimited. A
providers.ErrRejected is the provider answering that the request was bad: it counts
as a success, as a 4xx resets Envoy's consecutive-5xx count. An attempt cancelled because a
hedge answered first while it had not answered within its hedge delay
(ErrHedgedOver) counts as a slow call. Any other cancelled attempt, or an
unclassified error, is not counted at all.

Latency gives the p95 of a provider's successful calls within Window, which the
router turns into the provider's default hedge delay.

# Overrides

Registry.Override forces a breaker open (out of rotation) or closed (in rotation,
failures not counted), or hands it back to the breaker (auto). Snapshot shows each
provider's state, the reason and time of its last transition, why it tripped (kept
while it is out of rotation), its override, its probes (last time and outcome,
failures in a row), and the calls, failed calls, error rate, slow calls and p95
latency of its calls within Window, with Window itself.

# Shared state

The registries of all processes share the KV bucket switchboard_health (see
EnsureBucket): when a breaker makes a transition here, Run writes {state, reason,
since, origin} under state.<provider>; every registry watches the bucket and applies
the transitions of the others to its own breaker (Open, HalfOpen, Close), so a trip
seen by one worker takes every worker's traffic off the provider within the latency
of a KV watch (milliseconds). Overrides live in the same bucket, under
override.<provider>, so every instance honours them and they survive restarts.

Echoes and races are settled by revisions and times. Writes and the application of
entries are serialised per registry, and each write's revision is recorded before its
echo can be read; an entry is applied only if its revision is above the last one
written or applied for its key, so an instance never applies its own writes, nor an
entry twice. A state entry is then taken over only if its transition is later than
the local breaker's last one (by Since, then origin): a "closed" written just as
another instance tripped does not undo the trip; the tripped instance writes its state
again and every instance converges on the latest transition. Overrides are ordered by
revision alone: the operator's latest command wins. An open state read at start-up
whose OpenFor has elapsed is taken as half-open.

The bucket is a convenience, not a dependency: while NATS is unreachable each breaker
keeps working on its own instance's results, and writes are retried every second.

# Probes

A Prober per provider is called every ProbeInterval (the provider's own,
BreakerSettings.ProbeInterval, or Options.ProbeInterval) while its breaker is open or
half-open, bounded by ProbeTimeout (5 s, as LiveKit bounds an attempt) and by half
its interval, so that a probe of a hanging vendor is over before the next is due. A success
moves an open breaker to half-open and counts as a trial success; HalfOpenSuccesses
successes (probes or calls) close it. So a provider that recovers is back in rotation
within one ProbeInterval, without waiting for OpenFor. A failed probe keeps the
breaker open, with the reason it tripped for, and restarts OpenFor. Every instance probes on its own; the transitions
are shared, so the first to see a recovery brings the others along.
*/
package health
