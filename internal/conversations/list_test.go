package conversations

import (
	"testing"

	"github.com/switchboard-cc/switchboard/workflows"
)

// A customer address goes into a visibility query as a literal: a quote in it
// ends nothing, so it cannot widen the listing to other conversations.
func TestListFilter_QuotesWhatItIsGiven(t *testing.T) {
	for f, want := range map[ListFilter]string{
		{}: "WorkflowType = '" + workflows.WorkflowName + "'",
		{Customer: "+15551230001", Status: workflows.StatusActive}: "WorkflowType = '" + workflows.WorkflowName + "' AND " +
			workflows.SACustomer.GetName() + " = '+15551230001' AND " + workflows.SAStatus.GetName() + " = '" + workflows.StatusActive + "'",
		{Customer: `x' OR WorkflowType != 'y`}: "WorkflowType = '" + workflows.WorkflowName + "' AND " +
			workflows.SACustomer.GetName() + ` = 'x\' OR WorkflowType != \'y'`,
		{Customer: `a\' OR 1=1`}: "WorkflowType = '" + workflows.WorkflowName + "' AND " +
			workflows.SACustomer.GetName() + ` = 'a\\\' OR 1=1'`,
	} {
		if got := f.query(); got != want {
			t.Errorf("%+v:\n got %s\nwant %s", f, got, want)
		}
	}
}
