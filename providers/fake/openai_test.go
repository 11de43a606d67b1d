package fake_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

const oaKey = "sk-fake-openai-key"

func startOpenAIFake(t *testing.T) (*httptest.Server, *fake.OpenAI, *fake.Faults) {
	t.Helper()
	faults := &fake.Faults{}
	oa := fake.NewOpenAI(loadDemoAgent(t), faults, "", oaKey)
	srv := httptest.NewServer(oa)
	t.Cleanup(srv.Close)
	return srv, oa, faults
}

// chatBody is a chat completion request as the llm provider sends it.
func chatBody(user string) map[string]any {
	return map[string]any{
		"model": "gpt-test",
		"messages": []any{
			map[string]any{"role": "system", "content": "Classify. Answer with a JSON object."},
			map[string]any{"role": "user", "content": user},
		},
		"response_format": map[string]any{"type": "json_object"},
	}
}

type oaAnswer struct {
	status int
	body   map[string]any
}

func oaPost(t *testing.T, ctx context.Context, url, key string, body any) (oaAnswer, error) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		r = strings.NewReader(string(j))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return oaAnswer{}, err
	}
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return oaAnswer{resp.StatusCode, out}, nil
}

// content is the model's message content, decoded as the JSON object it should be.
func content(t *testing.T, a oaAnswer) (msg map[string]any, obj map[string]any) {
	t.Helper()
	require.Equal(t, 200, a.status, "%v", a.body)
	choices := a.body["choices"].([]any)
	require.Len(t, choices, 1)
	msg = choices[0].(map[string]any)["message"].(map[string]any)
	if s, ok := msg["content"].(string); ok {
		_ = json.Unmarshal([]byte(s), &obj)
	}
	return msg, obj
}

func requireOpenAIError(t *testing.T, a oaAnswer, status int, typ string) map[string]any {
	t.Helper()
	require.Equal(t, status, a.status, "%v", a.body)
	e, ok := a.body["error"].(map[string]any)
	require.True(t, ok, "no error object: %v", a.body)
	require.NotEmpty(t, e["message"])
	require.Equal(t, typ, e["type"])
	require.Contains(t, e, "param")
	require.Contains(t, e, "code")
	return e
}

func TestOpenAIFakeAnswersAChatCompletion(t *testing.T) {
	srv, _, _ := startOpenAIFake(t)

	a, err := oaPost(t, t.Context(), srv.URL+"/v1/chat/completions", oaKey, chatBody("where is my order"))

	require.NoError(t, err)
	require.Equal(t, "chat.completion", a.body["object"])
	require.True(t, strings.HasPrefix(a.body["id"].(string), "chatcmpl-"))
	require.Equal(t, "gpt-test", a.body["model"])
	require.NotZero(t, a.body["created"])
	require.NotNil(t, a.body["usage"])
	choice := a.body["choices"].([]any)[0].(map[string]any)
	require.Equal(t, "stop", choice["finish_reason"])
	require.EqualValues(t, 0, choice["index"])
	msg, obj := content(t, a)
	require.Equal(t, "assistant", msg["role"])
	require.Nil(t, msg["refusal"])
	require.Equal(t, "order.status", obj["intent"])
	require.Contains(t, obj["reply"], "corner-store.example/orders")
	require.EqualValues(t, 1, obj["confidence"])
}

func TestOpenAIFakeAnswersNoMatch(t *testing.T) {
	srv, _, _ := startOpenAIFake(t)

	a, err := oaPost(t, t.Context(), srv.URL+"/v1/chat/completions", oaKey, chatBody("zxqv blorft"))

	require.NoError(t, err)
	_, obj := content(t, a)
	require.Equal(t, "no-match", obj["intent"])
	require.Equal(t, loadDemoAgent(t).NoMatchReply, obj["reply"])
}

func TestOpenAIFakeServesThePathWithoutV1(t *testing.T) {
	srv, _, _ := startOpenAIFake(t)

	a, err := oaPost(t, t.Context(), srv.URL+"/chat/completions", oaKey, chatBody("hi"))

	require.NoError(t, err)
	_, obj := content(t, a)
	require.Equal(t, "greeting", obj["intent"])
}

func TestOpenAIFakeClassifiesTheLastUserMessageInContentParts(t *testing.T) {
	srv, _, _ := startOpenAIFake(t)
	body := map[string]any{
		"model": "m",
		"messages": []any{
			map[string]any{"role": "system", "content": "answer in json"},
			map[string]any{"role": "user", "content": "hi"},
			map[string]any{"role": "assistant", "content": "Hello!"},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "what are your "},
				map[string]any{"type": "text", "text": "opening hours"},
			}},
		},
	}

	a, err := oaPost(t, t.Context(), srv.URL+"/v1/chat/completions", oaKey, body)

	require.NoError(t, err)
	_, obj := content(t, a)
	require.Equal(t, "store.hours", obj["intent"])
}

func TestOpenAIFakeChecksTheBearerKey(t *testing.T) {
	srv, oa, _ := startOpenAIFake(t)
	url := srv.URL + "/v1/chat/completions"

	a, err := oaPost(t, t.Context(), url, "", chatBody("hi"))
	require.NoError(t, err)
	requireOpenAIError(t, a, 401, "invalid_request_error")

	a, err = oaPost(t, t.Context(), url, "sk-wrong", chatBody("hi"))
	require.NoError(t, err)
	e := requireOpenAIError(t, a, 401, "invalid_request_error")
	require.Equal(t, "invalid_api_key", e["code"])
	require.NotContains(t, e["message"], "sk-wrong")
	require.Equal(t, 2, oa.Calls())
}

func TestOpenAIFakeWithoutKeyAcceptsAnyCaller(t *testing.T) {
	srv := httptest.NewServer(fake.NewOpenAI(loadDemoAgent(t), nil, "", ""))
	defer srv.Close()

	a, err := oaPost(t, t.Context(), srv.URL+"/v1/chat/completions", "", chatBody("hi"))

	require.NoError(t, err)
	_, obj := content(t, a)
	require.Equal(t, "greeting", obj["intent"])
}

func TestOpenAIFakeRejectsMalformedRequests(t *testing.T) {
	srv, _, _ := startOpenAIFake(t)
	url := srv.URL + "/v1/chat/completions"
	without := func(key string) map[string]any {
		b := chatBody("hi")
		delete(b, key)
		return b
	}
	noJSONWord := chatBody("hi")
	noJSONWord["messages"] = []any{map[string]any{"role": "user", "content": "hi"}}
	noUser := chatBody("hi")
	noUser["messages"] = []any{map[string]any{"role": "system", "content": "json"}}
	streaming := chatBody("hi")
	streaming["stream"] = true
	badFormat := chatBody("hi")
	badFormat["response_format"] = map[string]any{"type": "xml"}
	badContent := chatBody("hi")
	badContent["messages"] = []any{map[string]any{"role": "user", "content": 42}}

	for name, body := range map[string]any{
		"not json":                         "{not json",
		"no model":                         without("model"),
		"no messages":                      without("messages"),
		"json_object without json word":    noJSONWord,
		"no user message":                  noUser,
		"stream":                           streaming,
		"unknown response format":          badFormat,
		"content neither string nor parts": badContent,
	} {
		a, err := oaPost(t, t.Context(), url, oaKey, body)
		require.NoError(t, err, name)
		requireOpenAIError(t, a, 400, "invalid_request_error")
	}
}

func TestOpenAIFakeAnswersUnknownRoutesWithAnOpenAIError(t *testing.T) {
	srv, _, _ := startOpenAIFake(t)

	a, err := oaPost(t, t.Context(), srv.URL+"/v1/embeddings", oaKey, chatBody("hi"))

	require.NoError(t, err)
	e := requireOpenAIError(t, a, 404, "invalid_request_error")
	require.Contains(t, e["message"], "/v1/embeddings")
}

func TestOpenAIFakeObeysFaults(t *testing.T) {
	srv, oa, faults := startOpenAIFake(t)
	url := srv.URL + "/v1/chat/completions"

	require.NoError(t, faults.Set(fake.Fault{Provider: oa.Name(), Mode: fake.ModeDown}))
	_, err := oaPost(t, t.Context(), url, oaKey, chatBody("hi"))
	require.Error(t, err, "down: the connection is dropped without an answer")

	for status, typ := range map[int]string{
		400: "invalid_request_error",
		401: "invalid_request_error",
		429: "requests",
		500: "server_error",
		503: "server_error",
	} {
		require.NoError(t, faults.Set(fake.Fault{Provider: oa.Name(), Mode: fake.ModeErrors, Status: status}))
		a, err := oaPost(t, t.Context(), url, oaKey, chatBody("hi"))
		require.NoError(t, err)
		requireOpenAIError(t, a, status, typ)
	}

	require.NoError(t, faults.Set(fake.Fault{Provider: oa.Name(), Mode: fake.ModeOK}))
	_, err = oaPost(t, t.Context(), url, oaKey, chatBody("hi"))
	require.NoError(t, err)
	require.Equal(t, 7, oa.Calls())
}

func TestOpenAIFakeFaultsAreScopedToItsProviderName(t *testing.T) {
	srv, oa, faults := startOpenAIFake(t)
	require.Equal(t, fake.OpenAIProvider, oa.Name())
	require.NoError(t, faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeDown}))

	_, err := oaPost(t, t.Context(), srv.URL+"/v1/chat/completions", oaKey, chatBody("hi"))

	require.NoError(t, err)
}

func TestOpenAIFakeSlowModeAnswersLateOrGivesUpWithTheCaller(t *testing.T) {
	srv, oa, faults := startOpenAIFake(t)
	url := srv.URL + "/v1/chat/completions"

	require.NoError(t, faults.Set(fake.Fault{Provider: oa.Name(), Mode: fake.ModeSlow, LatencyMS: 50}))
	start := time.Now()
	_, err := oaPost(t, t.Context(), url, oaKey, chatBody("hi"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	// Ten minutes: only a handler that notices the caller left can be done in time.
	require.NoError(t, faults.Set(fake.Fault{Provider: oa.Name(), Mode: fake.ModeSlow, LatencyMS: 600_000}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = oaPost(t, ctx, url, oaKey, chatBody("hi"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// The handler must notice the caller left: Close waits for it.
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(60 * time.Second): // liveness, generous for -race on a loaded machine
		srv.CloseClientConnections()
		t.Fatal("the handler kept waiting after the caller gave up")
	}
}

func TestOpenAIFakeOutputKnobMakesTheModelMisbehaveWithoutFaults(t *testing.T) {
	srv, oa, _ := startOpenAIFake(t)
	url := srv.URL + "/v1/chat/completions"
	ask := func() (map[string]any, map[string]any, string) {
		a, err := oaPost(t, t.Context(), url, oaKey, chatBody("where is my order"))
		require.NoError(t, err)
		msg, obj := content(t, a)
		return msg, obj, a.body["choices"].([]any)[0].(map[string]any)["finish_reason"].(string)
	}

	for out, check := range map[fake.OpenAIOutput]func(msg, obj map[string]any, finish string){
		fake.OpenAIOutputNotJSON: func(msg, obj map[string]any, _ string) {
			require.Nil(t, obj)
			require.NotEmpty(t, msg["content"])
		},
		fake.OpenAIOutputUnknownIntent: func(_, obj map[string]any, _ string) {
			require.Equal(t, "refund.request", obj["intent"])
		},
		fake.OpenAIOutputEmptyReply: func(_, obj map[string]any, _ string) {
			require.Equal(t, "order.status", obj["intent"])
			require.Equal(t, "", obj["reply"])
		},
		fake.OpenAIOutputLongReply: func(_, obj map[string]any, _ string) {
			require.Greater(t, len(obj["reply"].(string)), 1000)
		},
		fake.OpenAIOutputBadConfidence: func(_, obj map[string]any, _ string) {
			require.EqualValues(t, 1.7, obj["confidence"])
		},
		fake.OpenAIOutputTruncated: func(msg, obj map[string]any, finish string) {
			require.Nil(t, obj)
			require.Equal(t, "length", finish)
		},
		fake.OpenAIOutputRefusal: func(msg, _ map[string]any, _ string) {
			require.Nil(t, msg["content"])
			require.NotEmpty(t, msg["refusal"])
		},
		fake.OpenAIOutputMissingReply: func(_, obj map[string]any, _ string) {
			require.NotContains(t, obj, "reply")
			require.Equal(t, "order.status", obj["intent"])
		},
	} {
		require.NoError(t, oa.SetOutput(out))
		msg, obj, finish := ask()
		check(msg, obj, finish)
	}

	require.NoError(t, oa.SetOutput(fake.OpenAIOutputAgent))
	_, obj, _ := ask()
	require.Equal(t, "order.status", obj["intent"])
	require.Error(t, oa.SetOutput("gibberish"))
}
