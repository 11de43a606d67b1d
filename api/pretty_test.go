package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// listStore is a conversation store that records the listings asked of it.
type listStore struct {
	mu     sync.Mutex
	asked  []conversations.ListFilter
	limits []int
}

func (s *listStore) Transcript(context.Context, string) (turn.Transcript, error) {
	return turn.Transcript{}, turn.ErrNoConversation
}

func (s *listStore) List(_ context.Context, f conversations.ListFilter, limit int) ([]conversations.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked, s.limits = append(s.asked, f), append(s.limits, limit)
	return []conversations.Summary{{ConversationID: "api-sms-1", Status: "active"}, {ConversationID: "api-sms-2", Status: "closed"}}, nil
}

func (s *listStore) Act(context.Context, string, string, workflows.DeskRequest) (turn.Escalation, error) {
	return turn.Escalation{}, turn.ErrNoConversation
}

func (s *listStore) Waiting(context.Context, string, int) ([]turn.Escalation, error) { return nil, nil }

func get(t *testing.T, url, auth, accept string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func listAPI(t *testing.T, store *listStore) *httptest.Server {
	t.Helper()
	nc, js := ingressNATS(t, streams.Config{})
	tokens := auth.Tokens{testOpsToken: auth.RoleOps, testIngressToken: auth.RoleIngress}
	dev := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"to":"+15551230001","body":"We open at nine."}]`+"\n")
	})
	srv, err := api.New(api.Config{PublicURL: "http://127.0.0.1", TwilioAuthToken: "t", VonageSignatureSecret: ingressVonageSecret, Tokens: tokens, Dev: dev}, nc, js, store, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs
}

func TestConversationList_WithoutAFilter_ListsTheMostRecentWithALimit(t *testing.T) {
	store := &listStore{}
	hs := listAPI(t, store)
	code, body := get(t, hs.URL+"/v1/conversations", bearer(testOpsToken), "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "api-sms-1")
	code, body = get(t, hs.URL+"/v1/conversations?limit=5", bearer(testOpsToken), "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, []conversations.ListFilter{{}, {}}, store.asked)
	require.Equal(t, []int{api.DefaultRecentLimit, 5}, store.limits)
}

func TestJSONAnswers_AreIndentedWhenTheClientAsks_AndAlwaysOnTheDevEndpoints(t *testing.T) {
	hs := listAPI(t, &listStore{})
	_, flat := get(t, hs.URL+"/v1/conversations", bearer(testOpsToken), "")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(flat), "\n")+1, "not asked: one line: %s", flat)

	for name, c := range map[string]struct{ path, accept string }{
		"?pretty=1":             {"/v1/conversations?pretty=1", ""},
		"an Accept with indent": {"/v1/conversations", "application/json; indent"},
		"an indent width":       {"/v1/conversations", "text/html, application/json;indent=2"},
	} {
		code, body := get(t, hs.URL+c.path, bearer(testOpsToken), c.accept)
		require.Equal(t, http.StatusOK, code, name)
		require.Contains(t, body, "{\n  \"conversations\": [\n    {\n      \"conversation_id\": \"api-sms-1\",", name)
	}
	// An error answer too, with its status.
	code, body := get(t, hs.URL+"/v1/conversations?pretty=1&status=nope", bearer(testOpsToken), "")
	require.Equal(t, http.StatusBadRequest, code)
	require.True(t, strings.HasPrefix(body, "{\n  \"error\": "), body)

	_, body = get(t, hs.URL+"/dev/outbox", "", "")
	require.Equal(t, "[\n  {\n    \"to\": \"+15551230001\",\n    \"body\": \"We open at nine.\"\n  }\n]\n", body)

}
