package conversations

import (
	"context"
	"errors"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Store reads and acts on conversations through a Temporal client.
type Store struct {
	Client    client.Client
	Namespace string
}

// Transcript queries the conversation's workflow: turn.ErrNoConversation if
// Temporal does not know it.
func (s Store) Transcript(ctx context.Context, id string) (turn.Transcript, error) {
	v, err := s.Client.QueryWorkflow(ctx, turn.WorkflowID(id), "", workflows.QueryTranscript)
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return turn.Transcript{}, turn.ErrNoConversation
		}
		return turn.Transcript{}, err
	}
	var tr turn.Transcript
	err = v.Get(&tr)
	return tr, err
}
