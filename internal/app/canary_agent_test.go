package app

import (
	"context"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Issue 12, item 9: in dev the canary's turn got the no-match reply, which looks like
// a bug. The demo agent has a canary intent, and every NLU provider of the dev stack
// (the fake Dialogflow CX servers, the LLM against its fake, the local NLU) answers
// the canary's text with it.
func TestDevCanary_EveryNLUProviderOfTheDevStackAnswersTheCanaryIntent(t *testing.T) {
	pol := devPolicy(t)
	if pol.Canary == nil || pol.Canary.Text != routing.DefaultCanaryText {
		t.Fatalf("the dev policy's canary: %+v", pol.Canary)
	}
	fakes, set := startDevProviders(t, pol)
	demo := fakes.conn.LocalAgent
	asked := 0
	for _, name := range pol.ProviderNames() {
		d, ok := set.Detector(name)
		if !ok {
			continue
		}
		asked++
		res, err := d.Detect(context.Background(), nlu.Query{SessionID: "canary-test", Text: pol.Canary.Text, LanguageCode: "en"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if res.Intent != CanaryIntent || res.Reply == "" || res.Reply == demo.NoMatchReply {
			t.Errorf("%s answered the canary with intent %q, reply %q; want %s and its reply", name, res.Intent, res.Reply, CanaryIntent)
		}
	}
	if asked < 3 {
		t.Errorf("only %d NLU providers asked", asked)
	}
}

// Issue 12, item 9: the scheduled canary runs carry SwitchboardCanary=true, and a
// schedule made before (without it) is not current, so that workers update it.
func TestCanarySchedule_RunsAreTaggedSwitchboardCanary_AnOldScheduleIsUpdated(t *testing.T) {
	want := canarySchedule("q")
	a := want.Action.(*client.ScheduleWorkflowAction)
	if v, ok := a.TypedSearchAttributes.GetBool(workflows.SACanary); !ok || !v {
		t.Fatalf("SwitchboardCanary %v %v, want true", v, ok)
	}
	if typ, ok := workflows.SearchAttributes()[workflows.SACanary.GetName()]; !ok || typ != enumspb.INDEXED_VALUE_TYPE_BOOL {
		t.Errorf("SwitchboardCanary is not registered as a Bool: %v %v", typ, ok)
	}
	current := client.Schedule{Spec: &want.Spec, Action: a, Policy: &client.SchedulePolicies{Overlap: want.Overlap, CatchupWindow: want.CatchupWindow}}
	if !canaryScheduleIsCurrent(current, want) {
		t.Error("the wanted schedule is not current")
	}
	old := *a
	old.TypedSearchAttributes = temporal.SearchAttributes{}
	current.Action = &old
	if canaryScheduleIsCurrent(current, want) {
		t.Error("a schedule whose runs lack SwitchboardCanary is current")
	}
}
