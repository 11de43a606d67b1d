package conversations

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// The agent desk's actions. The conversation workflow is the source of truth of an
// escalation's state: every desk action is a workflow update whose validator
// refuses stale actions (an escalation that moved to another queue, or was
// resolved) before anything is recorded.

// ErrRejected is returned when the workflow refused a desk action.
var ErrRejected = errors.New("rejected")

// Act sends a desk update (workflows.UpdateClaim, UpdateAck, ...) to a conversation
// and returns the escalation as the workflow has it then. r.UpdateID, when set, makes
// a retried call the same update. Errors wrap ErrRejected or turn.ErrNoConversation
// where that is the cause.
func (s Store) Act(ctx context.Context, conversationID, update string, r workflows.DeskRequest) (turn.Escalation, error) {
	h, err := s.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: turn.WorkflowID(conversationID), UpdateName: update, Args: []any{r},
		UpdateID: r.UpdateID, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var e turn.Escalation
	if err == nil {
		err = h.Get(ctx, &e)
	}
	var nf *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &nf):
		return e, turn.ErrNoConversation
	case errors.As(err, &appErr):
		return e, fmt.Errorf("%w: %s", ErrRejected, appErr.Message())
	}
	return e, err
}

// Waiting lists the open escalations whose conversation waits in queue, at most
// limit. Visibility finds the candidates; each one's workflow has the last word.
func (s Store) Waiting(ctx context.Context, queue string, limit int) ([]turn.Escalation, error) {
	q := fmt.Sprintf("%s = %s AND %s = %s", workflows.SAStatus.GetName(), quote(workflows.StatusWaitingHuman), workflows.SAQueue.GetName(), quote(queue))
	resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.Namespace, Query: q, PageSize: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := []turn.Escalation{}
	for _, e := range resp.Executions {
		id, ok := turn.ConversationFromWorkflowID(e.GetExecution().GetWorkflowId())
		if !ok {
			continue
		}
		tr, err := s.Transcript(ctx, id)
		if err != nil || tr.Escalation == nil || tr.Escalation.Queue != queue {
			continue // visibility lags the workflow; the workflow is the truth
		}
		out = append(out, *tr.Escalation)
	}
	return out, nil
}
