package conversations

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// ListFilter selects conversations; empty fields match every conversation.
type ListFilter struct {
	Customer string
	Status   string // a SwitchboardStatus value
}

// query is the filter as a visibility query.
func (f ListFilter) query() string {
	q := fmt.Sprintf("WorkflowType = %s", quote(workflows.WorkflowName))
	if f.Customer != "" {
		q += fmt.Sprintf(" AND %s = %s", workflows.SACustomer.GetName(), quote(f.Customer))
	}
	if f.Status != "" {
		q += fmt.Sprintf(" AND %s = %s", workflows.SAStatus.GetName(), quote(f.Status))
	}
	return q
}

// Summary is one conversation in a listing.
type Summary struct {
	ConversationID string     `json:"conversation_id"`
	WorkflowID     string     `json:"workflow_id"`
	RunID          string     `json:"run_id"`
	Channel        string     `json:"channel"`
	Customer       string     `json:"customer"`
	Status         string     `json:"status"`
	Turns          int64      `json:"turns"`
	LastTurnAt     *time.Time `json:"last_turn_at,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
}

// List lists conversations from Temporal visibility, newest first, at most limit.
// Visibility is eventually consistent: a conversation started a moment ago may be
// missing.
func (s Store) List(ctx context.Context, f ListFilter, limit int) ([]Summary, error) {
	resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.Namespace, Query: f.query(), PageSize: int32(limit),
	})
	if err != nil {
		return nil, err
	}
	dc := converter.GetDefaultDataConverter()
	out := make([]Summary, 0, len(resp.Executions))
	for _, e := range resp.Executions {
		id, ok := turn.ConversationFromWorkflowID(e.GetExecution().GetWorkflowId())
		if !ok {
			continue
		}
		sum := Summary{ConversationID: id, WorkflowID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId(), StartedAt: e.GetStartTime().AsTime()}
		fields := e.GetSearchAttributes().GetIndexedFields()
		get := func(name string, into any) {
			if p, ok := fields[name]; ok {
				_ = dc.FromPayload(p, into)
			}
		}
		get(workflows.SAChannel.GetName(), &sum.Channel)
		get(workflows.SACustomer.GetName(), &sum.Customer)
		get(workflows.SAStatus.GetName(), &sum.Status)
		get(workflows.SATurns.GetName(), &sum.Turns)
		var last time.Time
		get(workflows.SALastTurnAt.GetName(), &last)
		if !last.IsZero() {
			sum.LastTurnAt = &last
		}
		out = append(out, sum)
	}
	return out, nil
}

// quote makes a string literal for a visibility query.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
