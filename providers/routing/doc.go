// Package routing decides which providers serve a turn, and in what order: the
// routing policy (a YAML file, see deploy/policy.example.yaml), its validation with
// errors that name the line and field, Plan (the providers a turn would try given
// who is down, also behind `switchboard policy simulate`), Router (the workflow's
// Route activity), and Watch, which reloads the file when it changes and keeps the
// last good policy when a change is invalid.
package routing
