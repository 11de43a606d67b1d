package fake

import (
	"context"
	"regexp"
	"strconv"
	"time"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchboard-cc/switchboard/providers/localnlu"
)

// dialogflowIntents is the fake's Dialogflow CX Intents service. It serves
// ListIntents from the Dialogflow fake's agent, so that localnlu.Export is exercised
// with the official client over gRPC; the other Intents methods answer
// UNIMPLEMENTED. It obeys the same fault switches as DetectIntent: a vendor that is
// down is down for both.
type dialogflowIntents struct {
	cxpb.UnimplementedIntentsServer
	d *Dialogflow
}

// agentPathRE is the format of ListIntentsRequest.parent.
var agentPathRE = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/agents/[^/]+$`)

// Dialogflow CX's page size limits for ListIntents.
const (
	defaultIntentsPageSize = 100
	maxIntentsPageSize     = 1000
)

// negativeIntentID is the id every CX agent's Default Negative Intent has.
const negativeIntentID = "00000000-0000-0000-0000-000000000001"

// ListIntents implements cxpb.IntentsServer. Every agent intent comes back with its
// training phrases (one part each, as CX returns a phrase without annotated
// parameters), its description and, for a handoff intent, the label
// localnlu.HandoffLabel. Like a real agent, the list ends with the Default Negative
// Intent, the agent's fallback intent. Replies are not intent data in CX and are not
// returned.
func (s *dialogflowIntents) ListIntents(ctx context.Context, req *cxpb.ListIntentsRequest) (*cxpb.ListIntentsResponse, error) {
	if err := dialogflowFault(ctx, s.d.faults.Decide(s.d.name)); err != nil {
		return nil, err
	}
	parent := req.GetParent()
	if !agentPathRE.MatchString(parent) {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q is not projects/<p>/locations/<l>/agents/<a>", parent)
	}
	agent := s.d.agent
	if lang := req.GetLanguageCode(); lang != "" && lang != agent.LanguageCode {
		return nil, status.Errorf(codes.InvalidArgument, "language %q is not enabled for agent %s", lang, parent)
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Errorf(codes.InvalidArgument, "page_size %d must not be negative", size)
	case size == 0:
		size = defaultIntentsPageSize
	case size > maxIntentsPageSize:
		size = maxIntentsPageSize
	}
	offset := 0
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n <= 0 {
			return nil, status.Errorf(codes.InvalidArgument, "page_token %q is not valid", tok)
		}
		offset = n
	}

	all := make([]*cxpb.Intent, 0, len(agent.Intents)+1)
	for _, in := range agent.Intents {
		all = append(all, cxIntent(parent, in, req.GetIntentView() != cxpb.IntentView_INTENT_VIEW_PARTIAL))
	}
	all = append(all, &cxpb.Intent{
		Name:        parent + "/intents/" + negativeIntentID,
		DisplayName: "Default Negative Intent",
		Priority:    500000,
		IsFallback:  true,
	})
	if offset > len(all) {
		return nil, status.Errorf(codes.InvalidArgument, "page_token %q is beyond the last page", req.GetPageToken())
	}
	end := min(offset+size, len(all))
	resp := &cxpb.ListIntentsResponse{Intents: all[offset:end]}
	if end < len(all) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

// cxIntent is in as Dialogflow CX returns it. The intent's name is the one
// DetectIntent reports for it.
func cxIntent(agentPath string, in localnlu.Intent, withPhrases bool) *cxpb.Intent {
	out := &cxpb.Intent{
		Name:        agentPath + "/intents/" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(agentPath+"/"+in.Name)).String(),
		DisplayName: in.Name,
		Priority:    500000, // "Normal", what CX stores for an unset priority
		Description: in.Description,
	}
	if in.Handoff {
		out.Labels = map[string]string{localnlu.HandoffLabel: "true"}
	}
	if withPhrases {
		for _, p := range in.TrainingPhrases {
			out.TrainingPhrases = append(out.TrainingPhrases, &cxpb.Intent_TrainingPhrase{
				Id:          uuid.NewSHA1(uuid.NameSpaceURL, []byte(out.Name+"/"+p)).String(),
				Parts:       []*cxpb.Intent_TrainingPhrase_Part{{Text: p}},
				RepeatCount: 1,
			})
		}
	}
	return out
}

// dialogflowFault carries out a fault decision as the Dialogflow fake does for
// DetectIntent: UNAVAILABLE when down, the gRPC code of an injected HTTP status, or
// a delay that ends early with the caller.
func dialogflowFault(ctx context.Context, f Decision) error {
	switch {
	case f.Down:
		return status.Error(codes.Unavailable, "fake dialogflow: service unavailable (fault: down)")
	case f.Status != 0:
		return status.Errorf(grpcCodeOf(f.Status), "fake dialogflow: injected failure (fault: HTTP %d)", f.Status)
	case f.Delay > 0:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	return nil
}
