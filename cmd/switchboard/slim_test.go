package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// devModules are the modules of the embedded Temporal server, its UI and the
// embedded NATS server, which only `dev` and `bench` use (through
// internal/devstack), each also in the major versions after its path
// (github.com/temporalio/ui-server/v2).
var devModules = []string{"go.temporal.io/server", "github.com/temporalio/ui-server", "github.com/nats-io/nats-server"}

// hasModule reports whether mods holds module m, in any major version.
func hasModule(mods map[string]bool, m string) bool {
	for have := range mods {
		if have == m || strings.HasPrefix(have, m+"/v") {
			return true
		}
	}
	return false
}

// moduleDeps lists the modules of the packages this command is built from, with the
// given build tags.
func moduleDeps(t *testing.T, tags string) map[string]bool {
	t.Helper()
	args := []string{"list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	out, err := exec.Command("go", append(args, ".")...).Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	mods := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		mods[m] = true
	}
	return mods
}

// The production roles are built with -tags slim (deploy/Dockerfile): that build
// must not carry the Temporal server, its UI or the embedded NATS server, whose
// memory and attack surface the api and worker roles would pay for nothing.
func TestSlimBuild_HasNoTemporalServerOrUI(t *testing.T) {
	full, slim := moduleDeps(t, ""), moduleDeps(t, "slim")
	for _, m := range devModules {
		// The full build has them: the check looks where they would be.
		if !hasModule(full, m) {
			t.Errorf("the full build does not depend on %s: this check would not see it", m)
		}
		if hasModule(slim, m) {
			t.Errorf("the slim build (go list -deps -tags slim ./cmd/switchboard) depends on %s", m)
		}
	}
	if !slim["go.temporal.io/sdk"] || !slim["github.com/nats-io/nats.go"] {
		t.Errorf("the slim build lacks the Temporal SDK or the NATS client: %v", slim)
	}
}

// The slim binary keeps dev and bench in its command tree and says why they are not
// there, whatever flags they are given; the roles work as in the full build.
func TestSlimBuild_DevAndBenchSayTheyAreLeftOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the slim binary")
	}
	bin := filepath.Join(t.TempDir(), "switchboard-slim")
	if out, err := exec.Command("go", "build", "-tags", "slim", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags slim: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"dev"}, {"dev", "--only-infra", "--data-dir", t.TempDir()}, {"bench", "--turns", "10"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil {
			t.Errorf("%s: succeeded in the slim build: %s", args, out)
		}
		if !strings.Contains(string(out), args[0]+" is not in this build") || !strings.Contains(string(out), "-tags slim") {
			t.Errorf("%s: %s", args, out)
		}
	}
	for _, role := range []string{"serve", "api", "worker"} {
		out, err := exec.Command(bin, role, "--help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--temporal-address") {
			t.Errorf("%s --help in the slim build: %v\n%s", role, err, out)
		}
	}
}
