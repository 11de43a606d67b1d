package devtemporal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdktemporal "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const taskQueue = "devtemporal-test"

var testSearchAttributes = map[string]enumspb.IndexedValueType{
	"ConversationId": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"TurnCount":      enumspb.INDEXED_VALUE_TYPE_INT,
}

func echoWorkflow(_ workflow.Context, in string) (string, error) {
	return "echo:" + in, nil
}

// tagWorkflow upserts a keyword search attribute.
func tagWorkflow(ctx workflow.Context, key, value string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, sdktemporal.NewSearchAttributeKeyKeyword(key).ValueSet(value))
}

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	s, err := Start(ctx, cfg)
	require.NoError(t, err)
	t.Logf("Start took %v (frontend %s, UI %q)", time.Since(began).Round(time.Millisecond), s.FrontendAddr(), s.UIURL())
	t.Cleanup(func() { require.NoError(t, s.Stop()) })
	return s
}

func dial(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddr(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func runWorker(t *testing.T, c client.Client) {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(echoWorkflow, workflow.RegisterOptions{Name: "echo"})
	w.RegisterWorkflowWithOptions(tagWorkflow, workflow.RegisterOptions{Name: "tag"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
}

func runEcho(ctx context.Context, t *testing.T, c client.Client, id, in string) {
	t.Helper()
	began := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, "echo", in)
	require.NoError(t, err)
	var out string
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, "echo:"+in, out)
	t.Logf("workflow %s ran in %v", id, time.Since(began).Round(time.Millisecond))
}

func runTag(ctx context.Context, t *testing.T, c client.Client, id, key, value string) {
	t.Helper()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, "tag", key, value)
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
}

// waitVisible waits until a visibility query finds workflow id.
func waitVisible(ctx context.Context, t *testing.T, c client.Client, query, id string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		require.NoError(ct, err)
		var ids []string
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		require.Contains(ct, ids, id)
	}, 20*time.Second, 50*time.Millisecond)
}

func requireSearchAttributes(ctx context.Context, t *testing.T, c client.Client, ns string, want map[string]enumspb.IndexedValueType) {
	t.Helper()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	require.NoError(t, err)
	for name, typ := range want {
		require.Equal(t, typ, resp.GetCustomAttributes()[name], "search attribute %s", name)
	}
}

func TestStartInMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := startServer(t, Config{
		FrontendPort:     RandomPort,
		UIPort:           RandomPort,
		Namespace:        "switchboard-test",
		SearchAttributes: testSearchAttributes,
	})
	require.True(t, strings.HasPrefix(s.FrontendAddr(), "127.0.0.1:"))
	c := dial(t, s)

	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "switchboard-test"})
	require.NoError(t, err)
	require.Equal(t, DefaultRetention, desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
	requireSearchAttributes(ctx, t, c, "switchboard-test", testSearchAttributes)

	runWorker(t, c)
	runEcho(ctx, t, c, "echo-1", "hi")
	runEcho(ctx, t, c, "echo-2", "again")
	runTag(ctx, t, c, "tag-1", "ConversationId", "conv-1")
	waitVisible(ctx, t, c, `ConversationId = "conv-1"`, "tag-1")

	// The UI serves its health endpoint and its pages.
	for _, path := range []string{"/healthz", "/"} {
		resp, err := http.Get(s.UIURL() + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, body)
	}
}

// childEnv makes TestChildProcess run a server on a file, complete a workflow, and
// exit: the parent then checks that a new process sees the workflow.
const childEnv = "DEVTEMPORAL_TEST_CHILD_DB"

func TestChildProcess(t *testing.T) {
	db := os.Getenv(childEnv)
	if db == "" {
		t.Skip("helper for TestRestartOnFile")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Config{
		FrontendPort:     RandomPort,
		DisableUI:        true,
		DBFile:           db,
		SearchAttributes: map[string]enumspb.IndexedValueType{"ConversationId": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	})
	require.NoError(t, err)
	c := dial(t, s)
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(echoWorkflow, workflow.RegisterOptions{Name: "echo"})
	require.NoError(t, w.Start())
	runEcho(ctx, t, c, "persisted", "before restart")
	w.Stop()
	c.Close()
	require.NoError(t, s.Stop())
}

func TestRestartOnFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Characters that mean something in an SQLite URI must still name a plain file.
	dir := filepath.Join(t.TempDir(), "dev #1?x=%41")
	require.NoError(t, os.Mkdir(dir, 0o755))
	db := filepath.Join(dir, "temporal.db")

	// First life, in another process, as after `switchboard dev` is restarted.
	began := time.Now()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+db)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child process:\n%s", out)
	require.NotContains(t, string(out), "SKIP")
	t.Logf("child process (start, one workflow, stop) took %v", time.Since(began).Round(time.Millisecond))
	// Bytes 18 and 19 of an SQLite file (write and read format versions) are 2 in WAL mode.
	header := make([]byte, 20)
	f, err := os.Open(db)
	require.NoError(t, err)
	_, err = io.ReadFull(f, header)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	require.Equal(t, []byte{2, 2}, header[18:20], "database not in WAL mode")
	entries, err := os.ReadDir(filepath.Dir(dir))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no stray database file next to the directory")

	// Second life: same file, one more search attribute than the first.
	more := map[string]enumspb.IndexedValueType{
		"ConversationId": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"Channel":        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
	cfg := Config{FrontendPort: RandomPort, DisableUI: true, DBFile: db, SearchAttributes: more, Retention: 48 * time.Hour}
	s := startServer(t, cfg)
	c := dial(t, s)
	check := func() {
		t.Helper()
		desc, err := c.DescribeWorkflowExecution(ctx, "persisted", "")
		require.NoError(t, err)
		require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
		var result string
		require.NoError(t, c.GetWorkflow(ctx, "persisted", "").Get(ctx, &result))
		require.Equal(t, "echo:before restart", result)
		iter := c.GetWorkflowHistory(ctx, "persisted", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var events int
		for iter.HasNext() {
			_, err := iter.Next()
			require.NoError(t, err)
			events++
		}
		require.GreaterOrEqual(t, events, 5, "history of the earlier workflow")
		requireSearchAttributes(ctx, t, c, DefaultNamespace, more)
		ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: DefaultNamespace})
		require.NoError(t, err)
		require.Equal(t, 48*time.Hour, ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
	}
	check()
	// The attribute added on restart is usable at once.
	runWorker(t, c)
	runTag(ctx, t, c, "tag-channel", "Channel", "sms")
	waitVisible(ctx, t, c, `Channel = "sms"`, "tag-channel")

	// A restart within the process, as tests may do, sees the same data.
	c.Close()
	require.NoError(t, s.Stop())
	s2 := startServer(t, cfg)
	c = dial(t, s2)
	check()
}

func TestBusyPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err = Start(ctx, Config{FrontendPort: busy, DisableUI: true})
	require.Error(t, err)
	require.Contains(t, err.Error(), fmt.Sprintf("frontend port %d is in use: ", busy))

	_, err = Start(ctx, Config{FrontendPort: RandomPort, UIPort: busy})
	require.Error(t, err)
	require.Contains(t, err.Error(), fmt.Sprintf("UI port %d is in use: ", busy))
}

func TestValidate(t *testing.T) {
	require.NoError(t, Config{}.Validate())
	require.NoError(t, Config{DisableUI: true, UIPort: -7}.Validate(), "UIPort is ignored without UI")
	for field, cfg := range map[string]Config{
		"Config.IP":               {IP: "localhost"},
		"Config.FrontendPort":     {FrontendPort: 70000},
		"Config.UIPort":           {UIPort: -2},
		"Config.Namespace":        {Namespace: "temporal-system"},
		"Config.Retention":        {Retention: time.Minute},
		"Config.SearchAttributes": {SearchAttributes: map[string]enumspb.IndexedValueType{"X": enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED}},
		"Config.LogLevel":         {LogLevel: "loud"},
		"Config.ClusterID":        {ClusterID: "not-a-uuid"},
	} {
		err := cfg.Validate()
		require.Error(t, err, field)
		require.Contains(t, err.Error(), field)
	}
	err := Config{FrontendPort: 9000, UIPort: 9000}.Validate()
	require.ErrorContains(t, err, "UIPort")

	_, err = Start(context.Background(), Config{LogLevel: "loud"})
	require.ErrorContains(t, err, "Config.LogLevel")
}

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	require.NoError(t, err)
	require.Positive(t, p)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

// TestInternalPortTakenIsAnError covers the race FreePort cannot close: an internal
// service's port taken between picking and binding. The server's logger calls Fatal;
// Start's logger turns that into an error instead of os.Exit.
func TestInternalPortTakenIsAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	cfg := Config{FrontendPort: RandomPort, DisableUI: true, LogOutput: io.Discard}.withDefaults()
	ports, err := resolvePorts(&cfg)
	require.NoError(t, err)
	ports.history = l.Addr().(*net.TCPAddr).Port
	sqlConf, err := sqlConfig(cfg)
	require.NoError(t, err)
	require.NoError(t, createNamespace(sqlConf, cfg))

	srv, err := newTemporalServer(cfg, ports, "127.0.0.1", "127.0.0.1:1", sqlConf)
	if err == nil {
		err = callNoExit(srv.Start)
		_ = callNoExit(srv.Stop)
	}
	require.ErrorContains(t, err, "Failed to start gRPC listener")
	require.ErrorContains(t, err, "address already in use")
}
