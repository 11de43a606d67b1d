package fake

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DialogflowProvider is the provider name the Dialogflow fake decides faults by
// unless NewDialogflow is given another.
const DialogflowProvider = "dialogflowcx"

// Dialogflow is a fake Dialogflow CX Sessions service: the official Go client talks
// gRPC to it exactly as it would to Google, and it answers DetectIntent from an
// Agent. Only DetectIntent is served; the other Sessions methods answer
// UNIMPLEMENTED. The same server also serves the Intents service's ListIntents
// from the agent (see dialogflow_intents.go), for refreshing the local NLU's cache.
type Dialogflow struct {
	cxpb.UnimplementedSessionsServer

	agent  *Agent
	faults *Faults
	name   string
	calls  atomic.Int64

	mu      sync.Mutex
	srv     *grpc.Server
	stopped bool
}

// NewDialogflow returns a fake answering from agent and obeying the faults set for
// provider name (DialogflowProvider when empty). agent must not be nil; a nil
// faults means no faults.
func NewDialogflow(agent *Agent, faults *Faults, name string) *Dialogflow {
	if faults == nil {
		faults = &Faults{}
	}
	if name == "" {
		name = DialogflowProvider
	}
	return &Dialogflow{agent: agent, faults: faults, name: name}
}

// Name is the provider name the fake decides faults by.
func (d *Dialogflow) Name() string { return d.name }

// Calls is how many DetectIntent calls reached the fake, failed ones included: tests
// use it to see that a client made exactly one attempt.
func (d *Dialogflow) Calls() int { return int(d.calls.Load()) }

// Serve serves gRPC on lis until Stop. It returns nil after Stop.
func (d *Dialogflow) Serve(lis net.Listener) error {
	srv := d.server()
	if srv == nil {
		lis.Close()
		return grpc.ErrServerStopped
	}
	if err := srv.Serve(lis); err != nil && err != grpc.ErrServerStopped {
		return err
	}
	return nil
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves in the background. It
// returns the address actually bound.
func (d *Dialogflow) Start(addr string) (string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("fake dialogflow: %w", err)
	}
	go d.Serve(lis) //nolint:errcheck // the only error after a successful Listen is Stop's
	return lis.Addr().String(), nil
}

// Stop closes the listeners and every open connection; calls in flight fail. A
// stopped fake does not serve again.
func (d *Dialogflow) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.srv != nil {
		d.srv.Stop()
	}
}

func (d *Dialogflow) server() *grpc.Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil
	}
	if d.srv == nil {
		d.srv = grpc.NewServer()
		cxpb.RegisterSessionsServer(d.srv, d)
		cxpb.RegisterIntentsServer(d.srv, &dialogflowIntents{d: d}) // dialogflow_intents.go
	}
	return d.srv
}

// sessionPath is the format Dialogflow CX accepts, with or without an environment.
var sessionPath = regexp.MustCompile(
	`^projects/[^/]+/locations/[^/]+/agents/[^/]+/(?:environments/[^/]+/)?sessions/([^/]+)$`)

// maxSessionID is Dialogflow CX's documented limit on a session id's length.
const maxSessionID = 36

// DetectIntent implements cxpb.SessionsServer.
func (d *Dialogflow) DetectIntent(ctx context.Context, req *cxpb.DetectIntentRequest) (*cxpb.DetectIntentResponse, error) {
	d.calls.Add(1)

	f := d.faults.Decide(d.name)
	switch {
	case f.Down:
		return nil, status.Error(codes.Unavailable, "fake dialogflow: service unavailable (fault: down)")
	case f.Status != 0:
		return nil, status.Errorf(grpcCodeOf(f.Status), "fake dialogflow: injected failure (fault: HTTP %d)", f.Status)
	case f.Delay > 0:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}

	m := sessionPath.FindStringSubmatch(req.GetSession())
	if m == nil {
		return nil, status.Errorf(codes.InvalidArgument,
			"session %q is not projects/<p>/locations/<l>/agents/<a>[/environments/<e>]/sessions/<id>", req.GetSession())
	}
	if len(m[1]) > maxSessionID {
		return nil, status.Errorf(codes.InvalidArgument, "session id %q is longer than %d characters", m[1], maxSessionID)
	}
	in := req.GetQueryInput()
	if in.GetLanguageCode() == "" {
		return nil, status.Error(codes.InvalidArgument, "query_input.language_code is required")
	}
	text := in.GetText().GetText()
	if strings.TrimSpace(text) == "" {
		return nil, status.Error(codes.InvalidArgument, "query_input.text.text is required")
	}

	agentPath := req.GetSession()[:strings.Index(req.GetSession(), "/sessions/")]
	if i := strings.Index(agentPath, "/environments/"); i >= 0 {
		agentPath = agentPath[:i]
	}
	return &cxpb.DetectIntentResponse{
		ResponseId:   uuid.NewString(),
		QueryResult:  d.queryResult(agentPath, text, in.GetLanguageCode()),
		ResponseType: cxpb.DetectIntentResponse_FINAL,
	}, nil
}

func (d *Dialogflow) queryResult(agentPath, text, lang string) *cxpb.QueryResult {
	name, reply, confidence, matched := d.agent.Match(text)
	qr := &cxpb.QueryResult{
		Query:        &cxpb.QueryResult_Text{Text: text},
		LanguageCode: lang,
		CurrentPage: &cxpb.Page{
			Name:        agentPath + "/flows/00000000-0000-0000-0000-000000000000/pages/START_PAGE",
			DisplayName: "Start Page",
		},
		ResponseMessages: []*cxpb.ResponseMessage{textMessage(reply)},
	}
	if !matched {
		qr.Match = &cxpb.Match{
			MatchType:     cxpb.Match_NO_MATCH,
			ResolvedInput: text,
			Event:         "sys.no-match-default",
		}
		return qr
	}
	intent := &cxpb.Intent{
		Name:        agentPath + "/intents/" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(agentPath+"/"+name)).String(),
		DisplayName: name,
	}
	qr.Intent = intent                        //nolint:staticcheck // still populated by the real service
	qr.IntentDetectionConfidence = confidence //nolint:staticcheck // still populated by the real service
	qr.Match = &cxpb.Match{
		Intent:        intent,
		MatchType:     cxpb.Match_INTENT,
		Confidence:    confidence,
		ResolvedInput: text,
	}
	if in, _ := d.agent.Intent(name); in.Handoff {
		// A real agent's handoff route carries a live-agent-handoff message; the
		// integration that reads it connects a person.
		qr.ResponseMessages = append(qr.ResponseMessages, &cxpb.ResponseMessage{
			Message: &cxpb.ResponseMessage_LiveAgentHandoff_{LiveAgentHandoff: &cxpb.ResponseMessage_LiveAgentHandoff{}},
		})
	}
	return qr
}

func textMessage(s string) *cxpb.ResponseMessage {
	return &cxpb.ResponseMessage{
		Message: &cxpb.ResponseMessage_Text_{Text: &cxpb.ResponseMessage_Text{Text: []string{s}}},
	}
}

// grpcCodeOf maps the HTTP status of an errors-mode fault to the gRPC code Google
// returns for it.
func grpcCodeOf(httpStatus int) codes.Code {
	switch httpStatus {
	case 400:
		return codes.InvalidArgument
	case 401:
		return codes.Unauthenticated
	case 403:
		return codes.PermissionDenied
	case 404:
		return codes.NotFound
	case 408, 504:
		return codes.DeadlineExceeded
	case 409:
		return codes.Aborted
	case 412:
		return codes.FailedPrecondition
	case 429:
		return codes.ResourceExhausted
	}
	if httpStatus >= 500 {
		return codes.Unavailable
	}
	return codes.InvalidArgument
}
