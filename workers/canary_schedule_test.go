package workers

import (
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/workflows"
)

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
