package switchboard_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is this module's path: rule patterns without a domain are relative to it.
const module = "github.com/switchboard-cc/switchboard"

// rule is one row of the house's import rules. A package matching pkg (and no
// pattern of except) may import, of the project, only the patterns of only (when
// only is not nil), and never a pattern of never. Patterns are package paths
// relative to the module, or full paths when their first element holds a dot
// (go.temporal.io/server/...); a pattern ending in /... also matches everything
// below it. The rules read what a package ships (its non-test imports); deps extends
// a rule from the package's direct imports to everything it depends on.
type rule struct {
	pkg    string
	except []string
	only   []string
	never  []string
	deps   bool
	why    string
}

// rules is the layout of the house, bottom up. Add a row for a new rule.
var rules = []rule{
	{pkg: "internal/turn", only: []string{},
		why: "internal/turn is the contract at the bottom: it imports nothing of the project"},
	{pkg: "workflows/...", only: []string{"internal/turn"},
		why: "workflow code is deterministic and knows the contract only"},
	{pkg: "providers/...", only: []string{"internal/turn", "providers/..."},
		why: "providers know the contract and each other's interfaces, never the layers above (workflows, workers, api, internal/app, internal/streams, cmd)"},
	{pkg: "internal/streams", only: []string{"internal/turn"},
		why: "internal/streams operates on the contract's streams and knows nothing above them"},
	{pkg: "internal/canary", never: []string{"workflows/...", "workers/...", "api/...", "internal/app/..."},
		why: "the canary's report types are the contract's; it needs no workflow, worker or API"},
	{pkg: "workers/...", never: []string{"api/...", "internal/app/...", "cmd/..."},
		why: "workers are below the API and the wiring"},
	{pkg: "workers", never: []string{"workers/bridge", "workers/stuck"},
		why: "the activities and the worker need neither the bridge nor the stuck conversations"},
	{pkg: "workers/bridge", never: []string{"providers/...", "workers", "workers/stuck"},
		why: "the bridge moves turns from JetStream to Temporal and calls no provider"},
	{pkg: "api/...", never: []string{"workers/...", "internal/app/...", "cmd/..."},
		why: "the API hands turns to JetStream and reads Temporal; it runs no worker and no wiring"},
	{pkg: "internal/drill", never: []string{"internal/app/...", "workers/...", "api/...", "workflows/..."},
		why: "a drill drives the stack from outside, through the binary's processes and their HTTP and NATS APIs; it runs none of the service's code"},
	{pkg: "internal/conversations", only: []string{"internal/turn", "workflows"},
		why: "the conversation store reads Temporal for the API, the stuck finder and the canary; it imports none of them"},
	{pkg: "internal/auth", only: []string{"internal/turn"},
		why: "auth guards every listener and knows none of them"},
	{pkg: "internal/devstack/devnats", only: []string{},
		why: "devnats is a test helper of every package: it imports nothing of the project"},
	{pkg: "internal/freeport", only: []string{},
		why: "freeport picks ports for servers and imports nothing of the project"},
	{pkg: "internal/devstack/devtemporal", only: []string{"internal/freeport"},
		why: "devtemporal runs the Temporal server and imports nothing of the project but freeport"},
	{pkg: "...", except: []string{"internal/devstack/devtemporal"}, never: []string{"go.temporal.io/server/...", "github.com/temporalio/ui-server/..."},
		why: "only the embedded dev stack imports the Temporal server and its UI"},
	{pkg: "...", except: []string{"internal/devstack/...", "internal/bench", "cmd/switchboard", "internal/streams/streamstest"}, never: []string{"internal/devstack/..."},
		why: "the dev stack is for dev, bench and the tests (whose imports these rules do not read, and streamstest, a test helper); cmd/switchboard's slim build leaves it out (cmd/switchboard/slim_test.go)"},
	{pkg: "internal/app", deps: true, never: []string{"internal/devstack/...", "go.temporal.io/server/...", "github.com/temporalio/ui-server/..."},
		why: "the production roles are wired by internal/app: it must not carry the dev stack or the Temporal server"},
}

// pkgInfo is what go list says of a package.
type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func TestLayout_EveryPackageImportsOnlyWhatItsLayerMay(t *testing.T) {
	pkgs := listPackages(t)
	for _, p := range violations(rules, pkgs) {
		t.Error(p)
	}
	for _, r := range rules {
		if !slices.ContainsFunc(pkgs, func(p pkgInfo) bool { return match(r.pkg, p.ImportPath) }) {
			t.Errorf("rule for %s matches no package: a moved package must take its rule along", r.pkg)
		}
	}
}

func TestLayout_ABadImportIsNamed(t *testing.T) {
	pkgs := []pkgInfo{
		{ImportPath: module + "/internal/turn", Imports: []string{"fmt"}},
		{ImportPath: module + "/workflows", Imports: []string{module + "/internal/turn", module + "/providers/messaging"}},
		{ImportPath: module + "/providers/twilio", Imports: []string{module + "/providers", module + "/workers"}, Deps: []string{"go.temporal.io/server/common"}},
		{ImportPath: module + "/internal/devstack/devtemporal", Imports: []string{"go.temporal.io/server/temporal", "github.com/temporalio/ui-server/v2/server"}},
		{ImportPath: module + "/api", Imports: []string{"go.temporal.io/server/temporal"}},
		{ImportPath: module + "/internal/conversations", Imports: []string{module + "/internal/turn", module + "/workflows", module + "/api"}},
		{ImportPath: module + "/internal/auth", Imports: []string{module + "/internal/turn", module + "/internal/app"}},
		{ImportPath: module + "/internal/devstack/devnats", Imports: []string{module + "/internal/turn"}},
		{ImportPath: module + "/internal/devstack/devtemporal", Imports: []string{module + "/workflows"}},
		{ImportPath: module + "/workers", Imports: []string{"github.com/temporalio/ui-server/v2/server", module + "/internal/devstack/devnats"}},
		{ImportPath: module + "/internal/bench", Imports: []string{module + "/internal/devstack"}},
		{ImportPath: module + "/internal/app", Imports: []string{module + "/api"}, Deps: []string{module + "/api", "go.temporal.io/server/common"}},
	}
	got := violations(rules, pkgs)
	want := []string{
		module + "/workflows imports " + module + "/providers/messaging",
		module + "/providers/twilio imports " + module + "/workers",
		module + "/api imports go.temporal.io/server/temporal",
		module + "/internal/conversations imports " + module + "/api",
		module + "/internal/auth imports " + module + "/internal/app",
		module + "/internal/devstack/devnats imports " + module + "/internal/turn",
		module + "/internal/devstack/devtemporal imports " + module + "/workflows",
		module + "/workers imports github.com/temporalio/ui-server/v2/server",
		module + "/workers imports " + module + "/internal/devstack/devnats",
		module + "/internal/app depends on go.temporal.io/server/common",
	}
	if len(got) != len(want) {
		t.Fatalf("violations %q, want %d naming %q", got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]+":") {
			t.Errorf("violation %q, want it to begin %q", got[i], want[i])
		}
	}
}

// violations names, one line each, every import of pkgs that breaks a rule.
func violations(rules []rule, pkgs []pkgInfo) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !match(r.pkg, p.ImportPath) || slices.ContainsFunc(r.except, func(e string) bool { return match(e, p.ImportPath) }) {
				continue
			}
			imports, verb := p.Imports, "imports"
			if r.deps {
				imports, verb = p.Deps, "depends on"
			}
			for _, imp := range imports {
				if broken(r, imp) {
					out = append(out, fmt.Sprintf("%s %s %s: %s", p.ImportPath, verb, imp, r.why))
				}
			}
		}
	}
	return out
}

func broken(r rule, imp string) bool {
	if slices.ContainsFunc(r.never, func(n string) bool { return match(n, imp) }) {
		return true
	}
	ours := imp == module || strings.HasPrefix(imp, module+"/")
	return r.only != nil && ours && !slices.ContainsFunc(r.only, func(o string) bool { return match(o, imp) })
}

// match reports whether the package path matches pattern (see rule).
func match(pattern, path string) bool {
	if pattern == "..." {
		return path == module || strings.HasPrefix(path, module+"/")
	}
	if first, _, _ := strings.Cut(pattern, "/"); !strings.Contains(first, ".") {
		pattern = module + "/" + pattern
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// listPackages runs go list on every package of the module.
func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no package")
	}
	return pkgs
}
