package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
	"github.com/switchboard-cc/switchboard/workflows"
)

// TestSetup registers Switchboard's search attributes on an embedded Temporal server
// that starts without them, as `switchboard setup` does on an external one.
func TestSetup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ts, err := devtemporal.Start(ctx, devtemporal.Config{FrontendPort: devtemporal.RandomPort, DisableUI: true, LogLevel: "error"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Stop() })
	c, err := client.DialContext(ctx, client.Options{
		HostPort: ts.FrontendAddr(), Namespace: ts.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ns := ts.Namespace()
	want := workflows.SearchAttributes()
	list := func() *operatorservice.ListSearchAttributesResponse {
		t.Helper()
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for name := range want {
		if _, ok := list().GetCustomAttributes()[name]; ok {
			t.Fatalf("%s registered before setup: the test proves nothing", name)
		}
	}

	t.Run("registers, then is idempotent", func(t *testing.T) {
		added, err := conversations.RegisterSearchAttributes(ctx, c, ns, want)
		if err != nil {
			t.Fatal(err)
		}
		if len(added) != len(want) || !slices.IsSorted(added) {
			t.Errorf("first call added %v, want all %d, sorted", added, len(want))
		}
		got := list().GetCustomAttributes()
		for name, typ := range want {
			if got[name] != typ {
				t.Errorf("%s: listed as %v, want %v", name, got[name], typ)
			}
		}
		added, err = conversations.RegisterSearchAttributes(ctx, c, ns, want)
		if err != nil || len(added) != 0 {
			t.Errorf("second call: added %v, error %v; want nothing added and no error", added, err)
		}
	})

	t.Run("another type is a conflict naming the attribute", func(t *testing.T) {
		if _, err := conversations.RegisterSearchAttributes(ctx, c, ns, map[string]enumspb.IndexedValueType{"SetupTestCount": enumspb.INDEXED_VALUE_TYPE_KEYWORD}); err != nil {
			t.Fatal(err)
		}
		_, err := conversations.RegisterSearchAttributes(ctx, c, ns, map[string]enumspb.IndexedValueType{
			"SetupTestCount": enumspb.INDEXED_VALUE_TYPE_INT,
			"SetupTestOther": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		})
		var conflict *conversations.SearchAttributeConflictError
		if !errors.As(err, &conflict) || conflict.Name != "SetupTestCount" || conflict.Have != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Fatalf("error %v, want a conflict on SetupTestCount (Keyword)", err)
		}
		if !strings.Contains(err.Error(), "SetupTestCount") || !strings.Contains(err.Error(), "Keyword") || !strings.Contains(err.Error(), "Int") {
			t.Errorf("error %q should name the attribute and both types", err)
		}
		if _, ok := list().GetCustomAttributes()["SetupTestOther"]; ok {
			t.Error("SetupTestOther was added although the request had a conflict")
		}
		_, err = conversations.RegisterSearchAttributes(ctx, c, ns, map[string]enumspb.IndexedValueType{"WorkflowType": enumspb.INDEXED_VALUE_TYPE_KEYWORD})
		if !errors.As(err, &conflict) || !conflict.System {
			t.Errorf("registering the system attribute WorkflowType: error %v, want a system conflict", err)
		}
	})

	run := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"setup", "--log-level", "error"}, args...))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}

	t.Run("the command, configured from the environment", func(t *testing.T) {
		t.Setenv("SWITCHBOARD_TEMPORAL_ADDRESS", ts.FrontendAddr())
		t.Setenv("SWITCHBOARD_TEMPORAL_NAMESPACE", ns)
		out, err := run(t, "--wait", "--settle", "0s")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("0 added, %d already there", len(workflows.SearchAttributes())); !strings.Contains(out, want) {
			t.Errorf("output %q", out)
		}
	})

	t.Run("a missing namespace is named", func(t *testing.T) {
		_, err := run(t, "--temporal-address", ts.FrontendAddr(), "--temporal-namespace", "no-such-namespace")
		if err == nil || !strings.Contains(err.Error(), "namespace no-such-namespace does not exist") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("--wait is bounded", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close() // nothing answers there now
		start := time.Now()
		_, err = run(t, "--temporal-address", addr, "--wait=2s")
		if err == nil || !strings.Contains(err.Error(), "not ready after waiting 2s") {
			t.Errorf("error %v, want a timeout after 2s", err)
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("--wait=2s took %v", d)
		}
	})
}

func TestWaitFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"true": defaultSetupWait, "false": 0, "90s": 90 * time.Second, "0": 0} {
		var w waitFlag
		if err := w.Set(in); err != nil || time.Duration(w) != want {
			t.Errorf("Set(%q): %v, %v; want %v", in, time.Duration(w), err, want)
		}
	}
	var w waitFlag
	if err := w.Set("-1s"); err == nil {
		t.Error("a negative wait was accepted")
	}
}
