// Package routing decides which providers serve a turn, and in what order: the
// routing policy (a YAML file, see deploy/policy.example.yaml), its validation with
// errors that name the line and field, Plan (the providers a turn would try given
// who is down, also behind `switchboard policy simulate`), Router (the workflow's
// Route activity), and Watch, which reloads the file when it changes and keeps the
// last good policy when a change is invalid.
//
// One file per job:
//   - policy.go: the Policy and its parts, as the rest of Switchboard reads them;
//   - load.go: Load, Parse and ParseFile, and the file as written (the raw types);
//   - decode.go: the strict decoder from the YAML syntax tree, which reports every
//     unknown field and mistyped value at its line;
//   - resolve.go: the file as written into a Policy, defaults filled in;
//   - validate.go: Validate and Warnings; suggest.go: "did you mean" for names;
//   - errors.go: Error, with its file, line, column and field path;
//   - plan.go: Plan, a turn's route given who is down; router.go: Router;
//   - watch.go: Watch, the reloading file;
//   - voice.go: the voice section (budget, holds, hand-off options) and the
//     budget's bound on a voice turn's NLU attempts.
//
// It imports internal/turn (the Route it plans, queue names) and providers (the
// error kinds) of the project; never workflows, workers, api, internal/app or
// internal/streams.
package routing
