// Package stuck finds conversations that made no progress and moves them on:
//
//   - finder.go: what is stuck (turns held in JetStream or never delivered, workflows
//     that report themselves stuck, workflow tasks that keep failing);
//   - sweeper.go: the periodic sweep that keeps the stuck metrics current, logs newly
//     stuck conversations and tells each workflow of its held turns;
//   - replayer.go: a replay on request, and the redrive that re-sends unanswered
//     replies by itself once a CPaaS provider is back.
//
// It imports workflows (the replay update, the held-turns signal), workers/bridge
// (the held-turn registry), internal/turn, internal/streams and internal/metrics;
// never api or internal/app: a conversation's transcript comes in as a function
// (Conversations.Transcript).
package stuck
