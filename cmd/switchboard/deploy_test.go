package main

// The deployment files (docker-compose.yml, deploy/Dockerfile, deploy/k8s/*.yaml) are
// never run in CI: there is no container engine. These tests check them against the
// binary instead: every switchboard subcommand, flag and SWITCHBOARD_* variable they
// use must exist, ports and probes must match what serve, api and worker listen on,
// and the files the image ships must be the ones they read.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// repoRoot is where the deployment files are, relative to this package.
const repoRoot = "../.."

// switchboardRun is one place a deployment file runs the switchboard binary.
type switchboardRun struct {
	where  string            // for error messages
	args   []string          // after the binary: subcommand, flags, arguments
	env    map[string]string // SWITCHBOARD_* only; "" when the value comes from elsewhere
	mounts []string          // paths mounted into the container
}

// resolved is a run checked against the command tree.
type resolved struct {
	cmd      *cobra.Command
	httpPort int // the port of --http-addr, for commands that have one
}

// serviceCommands run the service: they listen on --http-addr and serve /healthz and
// /readyz there.
var serviceCommands = []string{"serve", "api", "worker"}

func isService(cmd *cobra.Command) bool {
	return cmd != nil && slices.Contains(serviceCommands, cmd.Name())
}

// check runs the checks that apply to every run and returns the subcommand.
func (r switchboardRun) check(t *testing.T) resolved {
	t.Helper()
	root := newRootCommand()
	if len(r.args) == 0 {
		t.Errorf("%s: runs switchboard without a subcommand", r.where)
		return resolved{}
	}
	cmd, rest, err := root.Find(r.args)
	if err != nil || cmd == root || !cmd.Runnable() {
		t.Errorf("%s: %q is not a switchboard subcommand (%v)", r.where, strings.Join(r.args, " "), err)
		return resolved{}
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s: switchboard %s: %v", r.where, cmd.Name(), err)
		return resolved{}
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		t.Errorf("%s: switchboard %s: %v", r.where, cmd.Name(), err)
	}
	lookup := func(name string) *pflag.Flag {
		if f := cmd.Flags().Lookup(name); f != nil {
			return f
		}
		return cmd.InheritedFlags().Lookup(name)
	}
	for name, value := range r.env {
		flagName := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "SWITCHBOARD_")), "_", "-")
		f := lookup(flagName)
		if f == nil {
			t.Errorf("%s: %s sets no flag of switchboard %s (there is no --%s)", r.where, name, cmd.Name(), flagName)
			continue
		}
		switch {
		case strings.HasPrefix(value, "file:"):
			// Only secret flags read "file:/path" (see readSecret).
			if !strings.Contains(f.Usage, "file:/path") {
				t.Errorf("%s: %s=%s, but --%s does not read file: values", r.where, name, value, flagName)
			}
			p := strings.TrimPrefix(value, "file:")
			if !slices.ContainsFunc(r.mounts, func(m string) bool { return p == m || strings.HasPrefix(p, strings.TrimSuffix(m, "/")+"/") }) {
				t.Errorf("%s: %s reads %s, which no volume mounts (mounts: %v)", r.where, name, p, r.mounts)
			}
		case value == "" || strings.Contains(value, "${"):
			// Set from a Secret, a field reference or compose interpolation.
		case strings.Contains(f.Usage, "file:/path"):
			t.Errorf("%s: %s is a secret written into the file: take it from the environment, a Secret or a file:/path", r.where, name)
		case !f.Changed:
			if err := f.Value.Set(value); err != nil {
				t.Errorf("%s: %s=%q is not a valid --%s: %v", r.where, name, value, flagName, err)
			}
		}
	}
	if cmd.Name() == "api" || cmd.Name() == "serve" {
		r.checkIngress(t, cmd)
	}
	res := resolved{cmd: cmd}
	if addr := lookup("http-addr"); addr != nil {
		res.httpPort = portOf(t, r.where, addr.Value.String())
	} else if isService(cmd) {
		t.Fatalf("%s has no --http-addr", cmd.Name())
	}
	return res
}

// checkIngress asks of a run of an API role that POST /v1/turns is closed: an
// ingress token comes from a Secret, a file or a required compose variable, and the
// JSON turn API is not opened to anonymous callers.
func (r switchboardRun) checkIngress(t *testing.T, cmd *cobra.Command) {
	t.Helper()
	for _, p := range ingressProblems(cmd, r.env) {
		t.Errorf("%s: %s", r.where, p)
	}
}

// ingressProblems is checkIngress for a command whose flags are parsed.
func ingressProblems(cmd *cobra.Command, env map[string]string) []string {
	var problems []string
	if f := cmd.Flags().Lookup("insecure-anonymous-turns"); f == nil {
		problems = append(problems, "switchboard "+cmd.Name()+" has no --insecure-anonymous-turns flag")
	} else if f.Changed && f.Value.String() == "true" {
		problems = append(problems, "runs switchboard "+cmd.Name()+" with --insecure-anonymous-turns: anyone could post turns")
	}
	if v, ok := env["SWITCHBOARD_INSECURE_ANONYMOUS_TURNS"]; ok && v != "false" {
		problems = append(problems, fmt.Sprintf("SWITCHBOARD_INSECURE_ANONYMOUS_TURNS=%q opens POST /v1/turns to anyone", v))
	}
	if f := cmd.Flags().Lookup("ingress-token"); f != nil && f.Changed {
		return problems // on the command line (a value there fails the secret check)
	}
	switch v, ok := env["SWITCHBOARD_INGRESS_TOKEN"]; {
	case !ok:
		problems = append(problems, "switchboard "+cmd.Name()+" gets no SWITCHBOARD_INGRESS_TOKEN: it refuses to start without one")
	case strings.Contains(v, "${") && !strings.Contains(v, ":?"):
		problems = append(problems, "SWITCHBOARD_INGRESS_TOKEN="+v+" may be empty: make it required (${VAR:?...})")
	}
	return problems
}

// The deploy checks themselves must catch an API whose turn endpoint would be open.
func TestDeployChecks_RefuseAnAPIWithAnOpenTurnEndpoint(t *testing.T) {
	parsed := func(args ...string) *cobra.Command {
		cmd, rest, err := newRootCommand().Find(args)
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
		want string // "" when it passes
	}{
		"from a Secret":             {[]string{"api"}, map[string]string{"SWITCHBOARD_INGRESS_TOKEN": ""}, ""},
		"from a file":               {[]string{"serve"}, map[string]string{"SWITCHBOARD_INGRESS_TOKEN": "file:/run/secrets/ingress"}, ""},
		"required compose variable": {[]string{"api"}, map[string]string{"SWITCHBOARD_INGRESS_TOKEN": "${T:?set T}"}, ""},
		"on the command line":       {[]string{"api", "--ingress-token", "file:/run/secrets/ingress"}, nil, ""},
		"no token":                  {[]string{"api"}, nil, "gets no SWITCHBOARD_INGRESS_TOKEN"},
		"serve with no token":       {[]string{"serve"}, map[string]string{"SWITCHBOARD_OPS_TOKEN": ""}, "gets no SWITCHBOARD_INGRESS_TOKEN"},
		"optional compose variable": {[]string{"api"}, map[string]string{"SWITCHBOARD_INGRESS_TOKEN": "${T:-}"}, "may be empty"},
		"anonymous by flag":         {[]string{"api", "--insecure-anonymous-turns"}, map[string]string{"SWITCHBOARD_INGRESS_TOKEN": ""}, "anyone could post turns"},
		"anonymous by environment":  {[]string{"api"}, map[string]string{"SWITCHBOARD_INSECURE_ANONYMOUS_TURNS": "true"}, "opens POST /v1/turns to anyone"},
	} {
		got := strings.Join(ingressProblems(parsed(c.args...), c.env), "; ")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: problems %q, want %q", name, got, c.want)
		}
	}
}

func portOf(t *testing.T, where, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	n, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		t.Errorf("%s: HTTP address %q has no port", where, hostport)
	}
	return n
}

// serveDefault is the default of a serve flag.
func serveDefault(t *testing.T, name string) string {
	t.Helper()
	cmd, _, err := newRootCommand().Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags().Lookup(name)
	if f == nil {
		t.Fatalf("serve has no --%s", name)
	}
	return f.DefValue
}

// ---------------------------------------------------------------- YAML helpers

type obj = map[string]any

func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(obj)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// strs reads a command: a list of strings, or one string split on spaces.
func strs(v any) []string {
	if s, ok := v.(string); ok {
		return strings.Fields(s)
	}
	var out []string
	for _, e := range list(v) {
		out = append(out, str(e))
	}
	return out
}

func readDocs(t *testing.T, file string) []obj {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []obj
	for {
		var d obj
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// ---------------------------------------------------------------- docker-compose.yml

func TestDockerCompose(t *testing.T) {
	file := filepath.Join(repoRoot, "docker-compose.yml")
	docs := readDocs(t, file)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents", file, len(docs))
	}
	services, _ := docs[0]["services"].(obj)
	for _, name := range []string{"nats-1", "nats-2", "nats-3", "postgresql", "temporal", "temporal-ui", "setup", "api", "worker"} {
		if services[name] == nil {
			t.Errorf("%s: no service %s", file, name)
		}
	}

	// One-shot jobs: what others wait for with service_completed_successfully.
	oneShot := map[string]bool{}
	for _, s := range services {
		for dep, cond := range asObj(get(s, "depends_on")) {
			if str(get(cond, "condition")) == "service_completed_successfully" {
				oneShot[dep] = true
			}
		}
	}

	secrets := asObj(docs[0]["secrets"])
	runs := map[string]resolved{}
	var natsNodes []string
	for name, s := range services {
		where := file + ": service " + name
		image := str(get(s, "image"))
		isSwitchboard := str(get(s, "build", "dockerfile")) == "deploy/Dockerfile" || strings.Contains(image, "switchboard")
		if strings.HasPrefix(image, "nats:") {
			natsNodes = append(natsNodes, name)
		}
		if get(s, "healthcheck") == nil && !oneShot[name] {
			t.Errorf("%s: no healthcheck", where)
		}
		if !isSwitchboard {
			continue
		}
		if get(s, "entrypoint") != nil {
			t.Errorf("%s: overrides the image's entrypoint /switchboard", where)
		}
		r := switchboardRun{where: where, args: strs(get(s, "command")), env: map[string]string{}}
		for k, v := range composeEnv(t, where, get(s, "environment")) {
			if strings.HasPrefix(k, "SWITCHBOARD_") {
				r.env[k] = v
			}
		}
		for _, sec := range list(get(s, "secrets")) {
			secName := str(sec)
			if m, ok := sec.(obj); ok {
				secName = str(m["source"])
			}
			if secrets[secName] == nil {
				t.Errorf("%s: uses secret %s, which is not defined", where, secName)
			}
			r.mounts = append(r.mounts, "/run/secrets/"+secName)
		}
		res := r.check(t)
		runs[name] = res
		if res.cmd == nil {
			continue
		}
		for _, p := range composePorts(t, where, s) {
			if res.httpPort == 0 || p != res.httpPort {
				t.Errorf("%s: exposes port %d, but switchboard %s listens on %d", where, p, res.cmd.Name(), res.httpPort)
			}
		}
		if isService(res.cmd) {
			if cond := str(get(s, "depends_on", "setup", "condition")); cond != "service_completed_successfully" {
				t.Errorf("%s: runs %s without waiting for the setup job (depends_on setup: %q)", where, res.cmd.Name(), cond)
			}
			if res.cmd.Flags().Lookup("agent-file") != nil {
				if agentFile := r.env["SWITCHBOARD_AGENT_FILE"]; agentFile != imageFile(t, "deploy/agent/demo-agent.json") {
					t.Errorf("%s: SWITCHBOARD_AGENT_FILE=%q, but the image ships the agent at %s", where, agentFile, imageFile(t, "deploy/agent/demo-agent.json"))
				}
			}
			checkComposeProbe(t, where, get(s, "healthcheck", "test"), r.env, res)
		}
	}
	if runs["setup"].cmd == nil || runs["setup"].cmd.Name() != "setup" {
		t.Errorf("%s: service setup does not run switchboard setup", file)
	} else if !slices.Contains(strs(get(services["setup"], "command")), "--wait") {
		t.Errorf("%s: service setup runs switchboard setup without --wait", file)
	}
	for _, name := range []string{"api", "worker"} {
		if runs[name].cmd == nil || runs[name].cmd.Name() != name {
			t.Errorf("%s: service %s does not run switchboard %s", file, name, name)
		}
	}
	if ports := composePorts(t, "api", services["api"]); !slices.Contains(ports, runs["api"].httpPort) {
		t.Errorf("%s: service api does not publish the HTTP port %d (ports %v)", file, runs["api"].httpPort, ports)
	}
	if n := str(get(services["worker"], "deploy", "replicas")); n != "2" {
		t.Errorf("%s: service worker has deploy.replicas %q, want 2", file, n)
	}

	// NATS: three nodes of one JetStream cluster that fsyncs every write.
	slices.Sort(natsNodes)
	if len(natsNodes) < 3 {
		t.Errorf("%s: %d NATS services (%v), want 3", file, len(natsNodes), natsNodes)
	}
	for _, name := range natsNodes {
		where := file + ": service " + name
		conf := ""
		for _, v := range list(get(services[name], "volumes")) {
			if src, dst, ok := strings.Cut(str(v), ":"); ok && strings.HasSuffix(src, ".conf") {
				dst, _, _ = strings.Cut(dst, ":")
				if !slices.Contains(strs(get(services[name], "command")), dst) {
					t.Errorf("%s: mounts %s at %s but does not start with --config %s", where, src, dst, dst)
				}
				conf = src
			}
		}
		if conf == "" {
			t.Errorf("%s: no NATS configuration file mounted", where)
			continue
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, conf))
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		text := stripComments(string(b))
		for _, want := range []string{"jetstream", "store_dir", "cluster"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: %s has no %s", where, conf, want)
			}
		}
		if !regexp.MustCompile(`(?m)^\s*sync_interval\s*[:=]?\s*"?always"?\s*$`).MatchString(text) {
			t.Errorf("%s: %s does not set sync_interval: always (without it an acknowledged turn may not be on disk)", where, conf)
		}
		for _, peer := range natsNodes {
			if !strings.Contains(text, "nats-route://"+peer+":") {
				t.Errorf("%s: %s has no cluster route to %s", where, conf, peer)
			}
		}
	}
}

// checkComposeProbe checks a service's healthcheck: the image has no shell, so it
// must be `switchboard probe` on the port the service listens on (the probe reads
// the service's SWITCHBOARD_HTTP_ADDR as the service does).
func checkComposeProbe(t *testing.T, where string, test any, env map[string]string, svc resolved) {
	t.Helper()
	args := strs(test)
	if len(args) < 3 || args[0] != "CMD" || args[1] != "/switchboard" {
		t.Errorf("%s: healthcheck %v does not run [\"CMD\", \"/switchboard\", ...] (the image has no shell)", where, args)
		return
	}
	probeEnv := map[string]string{}
	if v, ok := env["SWITCHBOARD_HTTP_ADDR"]; ok {
		probeEnv["SWITCHBOARD_HTTP_ADDR"] = v
	}
	res := switchboardRun{where: where + " healthcheck", args: args[2:], env: probeEnv}.check(t)
	if res.cmd == nil {
		return
	}
	if res.cmd.Name() != "probe" {
		t.Errorf("%s: healthcheck runs switchboard %s, want probe", where, res.cmd.Name())
		return
	}
	if res.httpPort != svc.httpPort {
		t.Errorf("%s: healthcheck probes port %d, but switchboard %s listens on %d", where, res.httpPort, svc.cmd.Name(), svc.httpPort)
	}
	if p := res.cmd.Flags().Args(); len(p) == 1 && p[0] != "/readyz" && p[0] != "/healthz" {
		t.Errorf("%s: healthcheck probes %s, want /readyz or /healthz", where, p[0])
	}
}

func asObj(v any) obj {
	m, _ := v.(obj)
	return m
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// composeEnv reads a service's environment: a mapping, or a list of KEY=VALUE.
func composeEnv(t *testing.T, where string, v any) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch v := v.(type) {
	case obj:
		for k, val := range v {
			env[k] = str(val)
		}
	case []any:
		for _, e := range v {
			k, val, _ := strings.Cut(str(e), "=")
			env[k] = val
		}
	case nil:
	default:
		t.Errorf("%s: environment of type %T", where, v)
	}
	return env
}

// composePorts are the container ports a service publishes or exposes.
func composePorts(t *testing.T, where string, s any) []int {
	t.Helper()
	var ports []int
	add := func(p string) {
		p, _, _ = strings.Cut(p, "/")
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Errorf("%s: port %q", where, p)
			return
		}
		ports = append(ports, n)
	}
	for _, p := range list(get(s, "ports")) {
		if m, ok := p.(obj); ok {
			add(str(m["target"]))
			continue
		}
		parts := strings.Split(str(p), ":")
		add(parts[len(parts)-1])
	}
	for _, p := range list(get(s, "expose")) {
		add(str(p))
	}
	return ports
}

// ---------------------------------------------------------------- deploy/Dockerfile

// dockerfile is what the checks need from deploy/Dockerfile.
type dockerfile struct {
	copies     map[string]string // source in the repository -> path in the image
	expose     []int
	entrypoint string
	cmd        string
	goVersion  string
	user       string
	build      []string // the fields of the RUN line that builds the binary
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{copies: map[string]string{}}
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "COPY":
			if len(f) == 3 { // from the build context, not --from=
				d.copies[f[1]] = f[2]
			}
		case "EXPOSE":
			for _, p := range f[1:] {
				n, _ := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				d.expose = append(d.expose, n)
			}
		case "ENTRYPOINT":
			d.entrypoint = strings.Join(f[1:], " ")
		case "CMD":
			d.cmd = strings.Join(f[1:], " ")
		case "USER":
			d.user = f[1]
		case "RUN":
			if strings.Contains(line, "go build") {
				d.build = f
			}
		case "ARG":
			if v, ok := strings.CutPrefix(f[1], "GO_VERSION="); ok {
				d.goVersion = v
			}
		}
	}
	return d
}

// imageFile is where the image ships a repository file.
func imageFile(t *testing.T, src string) string {
	t.Helper()
	dst, ok := readDockerfile(t).copies[src]
	if !ok {
		t.Errorf("deploy/Dockerfile does not copy %s into the image", src)
	}
	return dst
}

func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)
	if d.entrypoint != `["/switchboard"]` || d.cmd != `["serve"]` {
		t.Errorf("deploy/Dockerfile: ENTRYPOINT %s CMD %s, want [\"/switchboard\"] [\"serve\"]", d.entrypoint, d.cmd)
	}
	if d.user == "" || strings.HasPrefix(d.user, "0") || strings.HasPrefix(d.user, "root") {
		t.Errorf("deploy/Dockerfile: USER %q, want a non-root user", d.user)
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod)); m == nil || m[1] != d.goVersion {
		t.Errorf("deploy/Dockerfile builds with Go %q, go.mod wants %v", d.goVersion, m)
	}
	// The image is the production build, without the embedded dev stack
	// (slim_test.go checks what that leaves out).
	if i := slices.Index(d.build, "-tags"); i < 0 || i+1 == len(d.build) || d.build[i+1] != "slim" || !slices.Contains(d.build, "./cmd/switchboard") {
		t.Errorf("deploy/Dockerfile builds %q, want go build -tags slim ./cmd/switchboard", strings.Join(d.build, " "))
	}
	port := portOf(t, "serve --http-addr", serveDefault(t, "http-addr"))
	if !slices.Equal(d.expose, []int{port}) {
		t.Errorf("deploy/Dockerfile: EXPOSE %v, but serve listens on %d", d.expose, port)
	}

	// The policy the image ships is the documented example, where serve looks for it,
	// and valid.
	const policySrc, agentSrc = "deploy/policy.example.yaml", "deploy/agent/demo-agent.json"
	if dst, want := d.copies[policySrc], serveDefault(t, "policy"); dst != want {
		t.Errorf("deploy/Dockerfile copies %s to %q, but serve's --policy defaults to %q", policySrc, dst, want)
	}
	checkPolicy(t, policySrc, readRepoFile(t, policySrc))
	if dst := d.copies[agentSrc]; path.Dir(dst) != path.Dir(serveDefault(t, "policy")) {
		t.Errorf("deploy/Dockerfile copies %s to %q, not beside the policy", agentSrc, dst)
	}
	checkAgent(t, agentSrc, readRepoFile(t, agentSrc))
	for src := range d.copies {
		if src == "." || strings.HasSuffix(src, ".mod") || strings.HasSuffix(src, ".sum") {
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
			t.Errorf("deploy/Dockerfile copies %s: %v", src, err)
		}
	}
}

func readRepoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkPolicy(t *testing.T, name string, data []byte) {
	t.Helper()
	if _, err := routing.ParseFile(name, data); err != nil {
		t.Errorf("%s: not a valid routing policy: %v", name, err)
	}
}

func checkAgent(t *testing.T, name string, data []byte) {
	t.Helper()
	if _, err := localnlu.ParseAgent(data); err != nil {
		t.Errorf("%s: not a valid agent file: %v", name, err)
	}
}

// ---------------------------------------------------------------- deploy/k8s

func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy/k8s/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy/k8s/*.yaml (%v)", err)
	}
	type object struct {
		file string
		doc  obj
	}
	byKind := map[string][]object{}
	for _, f := range files {
		for _, d := range readDocs(t, f) {
			kind := str(d["kind"])
			if kind == "" || str(get(d, "metadata", "name")) == "" {
				t.Errorf("%s: a document without kind or metadata.name", f)
				continue
			}
			byKind[kind] = append(byKind[kind], object{f, d})
		}
	}
	configMaps := map[string]obj{}
	for _, o := range byKind["ConfigMap"] {
		cm := str(get(o.doc, "metadata", "name"))
		configMaps[cm] = asObj(o.doc["data"])
		for k, v := range configMaps[cm] {
			switch path.Ext(k) {
			case ".yaml":
				checkPolicy(t, o.file+": ConfigMap "+cm+" "+k, []byte(str(v)))
			case ".json":
				checkAgent(t, o.file+": ConfigMap "+cm+" "+k, []byte(str(v)))
			}
		}
	}
	secretKeys := map[string]obj{}
	for _, o := range byKind["Secret"] {
		keys := obj{}
		for k, v := range asObj(o.doc["stringData"]) {
			keys[k] = v
		}
		for k, v := range asObj(o.doc["data"]) {
			keys[k] = v
		}
		secretKeys[str(get(o.doc, "metadata", "name"))] = keys
	}

	// podPorts: for each Deployment, its labels and its containers' ports by name.
	type podPorts struct {
		labels obj
		ports  map[string]int
	}
	var pods []podPorts
	runsIn := map[string]string{} // Deployment/NAME -> the service command it runs
	setupJob := false
	for _, kind := range []string{"Deployment", "Job"} {
		for _, o := range byKind[kind] {
			name := str(get(o.doc, "metadata", "name"))
			spec := get(o.doc, "spec", "template", "spec")
			volumes := map[string]obj{}
			for _, v := range list(get(spec, "volumes")) {
				volumes[str(get(v, "name"))] = asObj(v)
			}
			checkPodSecurity(t, o.file+": "+kind+" "+name, spec)
			pp := podPorts{labels: asObj(get(o.doc, "spec", "template", "metadata", "labels")), ports: map[string]int{}}
			containers := append(slices.Clone(list(get(spec, "initContainers"))), list(get(spec, "containers"))...)
			for _, c := range containers {
				where := fmt.Sprintf("%s: %s %s, container %s", o.file, kind, name, str(get(c, "name")))
				if !strings.Contains(str(get(c, "image")), "switchboard") {
					continue
				}
				checkContainerSecurity(t, where, c)
				args := strs(get(c, "args"))
				if cmd := strs(get(c, "command")); len(cmd) > 0 {
					if cmd[0] != "/switchboard" {
						t.Errorf("%s: command %v does not run /switchboard", where, cmd)
						continue
					}
					args = append(cmd[1:], args...)
				}
				r := switchboardRun{where: where, args: args, env: map[string]string{}}
				for _, e := range list(get(c, "env")) {
					if n := str(get(e, "name")); strings.HasPrefix(n, "SWITCHBOARD_") {
						r.env[n] = str(get(e, "value"))
						if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
							if keys, ok := secretKeys[str(get(ref, "name"))]; !ok || keys[str(get(ref, "key"))] == nil {
								t.Errorf("%s: %s comes from secret %s key %s, which deploy/k8s does not define", where, n, str(get(ref, "name")), str(get(ref, "key")))
							}
						}
					}
				}
				var configDir string
				secretMounts := map[string]string{} // mount path -> Secret
				for _, m := range list(get(c, "volumeMounts")) {
					mp := str(get(m, "mountPath"))
					r.mounts = append(r.mounts, mp)
					vol := volumes[str(get(m, "name"))]
					if vol == nil {
						t.Errorf("%s: mounts volume %s, which the pod does not have", where, str(get(m, "name")))
						continue
					}
					if secret := str(get(vol, "secret", "secretName")); secret != "" {
						secretMounts[path.Clean(mp)] = secret
						if secretKeys[secret] == nil {
							t.Errorf("%s: mounts secret %s, which deploy/k8s does not define", where, secret)
						}
					}
					if cm := str(get(vol, "configMap", "name")); cm != "" {
						if configMaps[cm] == nil {
							t.Errorf("%s: mounts ConfigMap %s, which deploy/k8s does not define", where, cm)
						}
						if get(m, "subPath") != nil {
							t.Errorf("%s: mounts ConfigMap %s with subPath: Kubernetes never updates it, so the policy would not reload", where, cm)
						}
						configDir = mp
					}
				}
				for n, v := range r.env {
					if p, ok := strings.CutPrefix(v, "file:"); ok {
						if secret, ok := secretMounts[path.Dir(p)]; ok && secretKeys[secret] != nil && secretKeys[secret][path.Base(p)] == nil {
							t.Errorf("%s: %s reads %s, but secret %s has no key %s", where, n, p, secret, path.Base(p))
						}
					}
				}
				res := r.check(t)
				if res.cmd == nil {
					continue
				}
				switch res.cmd.Name() {
				case "setup":
					setupJob = setupJob || kind == "Job"
					if !slices.Contains(args, "--wait") {
						t.Errorf("%s: runs setup without --wait", where)
					}
				case "serve", "api", "worker":
					runsIn[kind+"/"+name] = res.cmd.Name()
					policy := orDefault(r.env["SWITCHBOARD_POLICY"], serveDefault(t, "policy"))
					for _, file := range []string{policy, r.env["SWITCHBOARD_AGENT_FILE"]} {
						if file == "" {
							continue
						}
						if configDir == "" || path.Dir(file) != path.Clean(configDir) {
							t.Errorf("%s: reads %s, which is not in the ConfigMap mounted at %q", where, file, configDir)
							continue
						}
						for _, v := range list(get(spec, "volumes")) {
							if cm := str(get(v, "configMap", "name")); cm != "" && configMaps[cm] != nil && configMaps[cm][path.Base(file)] == nil {
								t.Errorf("%s: reads %s, but ConfigMap %s has no key %s", where, file, cm, path.Base(file))
							}
						}
					}
					ports := map[string]int{}
					for _, p := range list(get(c, "ports")) {
						n, _ := strconv.Atoi(str(get(p, "containerPort")))
						if n != res.httpPort {
							t.Errorf("%s: containerPort %d, but %s listens on %d", where, n, res.cmd.Name(), res.httpPort)
						}
						ports[str(get(p, "name"))] = n
						pp.ports[str(get(p, "name"))] = n
						pp.ports[strconv.Itoa(n)] = n
					}
					for probe, wantPath := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
						g := get(c, probe, "httpGet")
						if g == nil {
							t.Errorf("%s: no %s", where, probe)
							continue
						}
						if p := str(get(g, "path")); p != wantPath {
							t.Errorf("%s: %s on %s, want %s", where, probe, p, wantPath)
						}
						port := str(get(g, "port"))
						if n, ok := ports[port]; !ok && port != strconv.Itoa(res.httpPort) || ok && n != res.httpPort {
							t.Errorf("%s: %s on port %s, but %s listens on %d", where, probe, port, res.cmd.Name(), res.httpPort)
						}
					}
					if get(c, "resources", "requests") == nil || get(c, "resources", "limits") == nil {
						t.Errorf("%s: no resource requests and limits", where)
					}
				}
			}
			pods = append(pods, pp)
		}
	}
	for want, cmd := range map[string]string{"Deployment/switchboard-api": "api", "Deployment/switchboard-worker": "worker"} {
		if runsIn[want] != cmd {
			t.Errorf("deploy/k8s: no %s running switchboard %s (it runs %q)", want, cmd, runsIn[want])
		}
	}
	if !setupJob {
		t.Error("deploy/k8s: no Job running switchboard setup")
	}

	// Every Service targets a port of the pods it selects.
	for _, o := range byKind["Service"] {
		name := str(get(o.doc, "metadata", "name"))
		selector := asObj(get(o.doc, "spec", "selector"))
		var selected []podPorts
		for _, p := range pods {
			match := len(selector) > 0
			for k, v := range selector {
				match = match && str(p.labels[k]) == str(v)
			}
			if match {
				selected = append(selected, p)
			}
		}
		if len(selected) == 0 {
			t.Errorf("%s: Service %s selects no pod of deploy/k8s", o.file, name)
		}
		for _, sp := range list(get(o.doc, "spec", "ports")) {
			target := orDefault(str(get(sp, "targetPort")), str(get(sp, "port")))
			for _, p := range selected {
				if _, ok := p.ports[target]; !ok {
					t.Errorf("%s: Service %s targets port %s, which its pods do not have (%v)", o.file, name, target, p.ports)
				}
			}
		}
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func checkPodSecurity(t *testing.T, where string, spec any) {
	t.Helper()
	sc := get(spec, "securityContext")
	if get(sc, "runAsNonRoot") != true {
		t.Errorf("%s: the pod does not set securityContext.runAsNonRoot", where)
	}
}

func checkContainerSecurity(t *testing.T, where string, c any) {
	t.Helper()
	sc := get(c, "securityContext")
	if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false {
		t.Errorf("%s: wants securityContext readOnlyRootFilesystem: true and allowPrivilegeEscalation: false", where)
	}
}
