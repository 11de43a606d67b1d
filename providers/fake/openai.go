package fake

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// OpenAIProvider is the provider name the OpenAI fake decides faults by unless
// NewOpenAI is given another; it is the llm provider's default name.
const OpenAIProvider = "llm"

// maxOpenAIRequest bounds a chat completion request body. The prompt of a
// classification request is a few KiB.
const maxOpenAIRequest = 1 << 20

// OpenAIOutput is what the fake model writes in its answer. The zero value is a
// well-behaved model; the others are the ways a real model goes wrong, delivered
// in a well-formed 200 chat completion so that a client's validation of the
// model's output, not its HTTP error handling, is what a test exercises.
type OpenAIOutput string

const (
	OpenAIOutputAgent         OpenAIOutput = ""               // the agent's match as {"intent","reply","confidence"}
	OpenAIOutputNotJSON       OpenAIOutput = "not-json"       // prose instead of a JSON object
	OpenAIOutputUnknownIntent OpenAIOutput = "unknown-intent" // an intent the agent does not have
	OpenAIOutputEmptyReply    OpenAIOutput = "empty-reply"    // the matched intent with an empty reply
	OpenAIOutputLongReply     OpenAIOutput = "long-reply"     // a reply of several thousand characters
	OpenAIOutputBadConfidence OpenAIOutput = "bad-confidence" // confidence 1.7
	OpenAIOutputTruncated     OpenAIOutput = "truncated"      // JSON cut off, finish_reason "length"
	OpenAIOutputRefusal       OpenAIOutput = "refusal"        // no content, a refusal message
	OpenAIOutputMissingReply  OpenAIOutput = "missing-reply"  // a JSON object without "reply"
)

var openAIOutputs = map[OpenAIOutput]bool{
	OpenAIOutputAgent: true, OpenAIOutputNotJSON: true, OpenAIOutputUnknownIntent: true,
	OpenAIOutputEmptyReply: true, OpenAIOutputLongReply: true, OpenAIOutputBadConfidence: true,
	OpenAIOutputTruncated: true, OpenAIOutputRefusal: true, OpenAIOutputMissingReply: true,
}

// OpenAI is a fake of OpenAI's chat completions API (POST /v1/chat/completions),
// the API that OpenAI, Azure OpenAI's v1 endpoint, vLLM and Ollama all serve. It
// plays a model that classifies the last user message with the demo agent
// (Agent.Match) and answers with the JSON object the llm provider asks for:
// {"intent": "<intent or no-match>", "reply": "<the intent's reply>",
// "confidence": <0..1>}.
//
// Like the API it checks the bearer key (401 with OpenAI's error JSON otherwise),
// the request's shape, and that a json_object response format comes with the word
// "json" in the messages. Faults are drawn per call under its name: down drops the
// connection, errors answers OpenAI's error JSON with the status, slow answers
// late unless the caller gives up first. SetOutput makes the model misbehave
// without any fault. Safe for concurrent use.
type OpenAI struct {
	agent  *Agent
	faults *Faults
	name   string
	apiKey string
	calls  atomic.Int64
	mux    *http.ServeMux

	mu     sync.Mutex
	output OpenAIOutput
}

// NewOpenAI returns the fake answering from agent, obeying the faults set for
// provider name (OpenAIProvider when empty) and accepting the bearer key apiKey (an
// empty apiKey accepts any request, as a local vLLM or Ollama does). It serves both
// /v1/chat/completions and /chat/completions, so a client's base URL may end in
// /v1 or not. agent must not be nil; a nil faults means no faults.
func NewOpenAI(agent *Agent, faults *Faults, name string, apiKey string) *OpenAI {
	if faults == nil {
		faults = &Faults{}
	}
	if name == "" {
		name = OpenAIProvider
	}
	o := &OpenAI{agent: agent, faults: faults, name: name, apiKey: apiKey, mux: http.NewServeMux()}
	o.mux.HandleFunc("POST /v1/chat/completions", o.chatCompletions)
	o.mux.HandleFunc("POST /chat/completions", o.chatCompletions)
	o.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "", "",
			fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
	})
	return o
}

// ServeHTTP implements http.Handler.
func (o *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) { o.mux.ServeHTTP(w, r) }

// Name is the provider name the fake decides faults by.
func (o *OpenAI) Name() string { return o.name }

// Calls is how many chat completion requests reached the fake, failed ones
// included: tests use it to see that a client made exactly one attempt.
func (o *OpenAI) Calls() int { return int(o.calls.Load()) }

// SetOutput sets what the model writes in every later answer (OpenAIOutputAgent to
// behave again). It is independent of the fault switches: the HTTP exchange stays
// a successful one.
func (o *OpenAI) SetOutput(out OpenAIOutput) error {
	if !openAIOutputs[out] {
		return fmt.Errorf("fake openai: unknown output %q", out)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.output = out
	return nil
}

func (o *OpenAI) currentOutput() OpenAIOutput {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.output
}

// openAIRequest is the part of a chat completion request the fake reads.
type openAIRequest struct {
	Model          string          `json:"model"`
	Messages       []openAIMessage `json:"messages"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	Stream bool `json:"stream"`
	N      *int `json:"n"`
}

type openAIMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text is the message's text: content is a string or an array of parts, of which
// the text parts count.
func (m openAIMessage) text() (string, error) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(m.Content, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", errors.New("content must be a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

func (o *OpenAI) chatCompletions(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	d := o.faults.Decide(o.name)
	if !cpaasFault(w, r, d) {
		return
	}
	if d.Status != 0 {
		writeOpenAIFault(w, d.Status)
		return
	}

	if o.apiKey != "" {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok || key == "":
			writeOpenAIError(w, http.StatusUnauthorized, "invalid_request_error", "", "",
				"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
			return
		case !cpaasEqual(key, o.apiKey):
			// The real API echoes a masked key; the fake echoes none of it.
			writeOpenAIError(w, http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key",
				"Incorrect API key provided.")
			return
		}
	}

	var req openAIRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOpenAIRequest)).Decode(&req); err != nil {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "", "",
			"We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)")
		return
	}
	var all strings.Builder
	user, haveUser := "", false
	for i, m := range req.Messages {
		text, err := m.text()
		if err != nil {
			writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("messages[%d].content", i), "", err.Error())
			return
		}
		all.WriteString(text)
		if m.Role == "user" {
			user, haveUser = text, true
		}
	}
	switch {
	case req.Model == "":
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "model", "", "you must provide a model parameter")
		return
	case len(req.Messages) == 0:
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "messages", "empty_array",
			"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
		return
	case req.Stream:
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "stream", "", "fake openai: streaming is not supported")
		return
	case req.N != nil && *req.N != 1:
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "n", "", "fake openai: only n=1 is supported")
		return
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object" &&
		!strings.Contains(strings.ToLower(all.String()), "json"):
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "messages", "",
			"'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.")
		return
	case req.ResponseFormat != nil && req.ResponseFormat.Type != "text" && req.ResponseFormat.Type != "json_object":
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "response_format.type", "",
			fmt.Sprintf("fake openai: response_format %q is not supported", req.ResponseFormat.Type))
		return
	case !haveUser:
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "messages", "",
			"fake openai: the messages hold no user message to classify")
		return
	}

	content, refusal, finish := o.answer(user)
	message := map[string]any{"role": "assistant", "content": content, "refusal": nil, "annotations": []any{}}
	if refusal != "" {
		message["content"], message["refusal"] = nil, refusal
	}
	prompt, completion := approxTokens(all.String()), approxTokens(content+refusal)
	cpaasJSON(w, http.StatusOK, map[string]any{
		"id":      "chatcmpl-" + cpaasHex(12),
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   req.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       message,
			"logprobs":      nil,
			"finish_reason": finish,
		}},
		"usage": map[string]any{
			"prompt_tokens":             prompt,
			"completion_tokens":         completion,
			"total_tokens":              prompt + completion,
			"prompt_tokens_details":     map[string]int{"cached_tokens": 0, "audio_tokens": 0},
			"completion_tokens_details": map[string]int{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
		},
		"service_tier":       "default",
		"system_fingerprint": "fp_switchboard_fake",
	})
}

// openAIAnswer is the JSON object the llm provider asks the model for.
type openAIAnswer struct {
	Intent     string  `json:"intent"`
	Reply      string  `json:"reply"`
	Confidence float64 `json:"confidence"`
}

// answer is what the model says about text: the message content (or a refusal)
// and the finish reason.
func (o *OpenAI) answer(text string) (content, refusal, finish string) {
	name, reply, confidence, matched := o.agent.Match(text)
	a := openAIAnswer{Intent: name, Reply: reply, Confidence: round2(confidence)}
	if !matched {
		// A model is fairly sure that gibberish matches nothing.
		a.Intent, a.Confidence = "no-match", 0.9
	}
	switch o.currentOutput() {
	case OpenAIOutputNotJSON:
		return "The customer seems to be asking about " + a.Intent + ".", "", "stop"
	case OpenAIOutputUnknownIntent:
		a.Intent = "refund.request"
	case OpenAIOutputEmptyReply:
		a.Reply = ""
	case OpenAIOutputLongReply:
		a.Reply = strings.Repeat("This reply goes on and on. ", 200)
	case OpenAIOutputBadConfidence:
		a.Confidence = 1.7
	case OpenAIOutputTruncated:
		b, _ := json.Marshal(a)
		return string(b[:len(b)/2]), "", "length"
	case OpenAIOutputRefusal:
		return "", "I'm sorry, but I can't help with that request.", "stop"
	case OpenAIOutputMissingReply:
		b, _ := json.Marshal(map[string]any{"intent": a.Intent, "confidence": a.Confidence})
		return string(b), "", "stop"
	}
	b, _ := json.Marshal(a)
	return string(b), "", "stop"
}

func round2(f float32) float64 { return math.Round(float64(f)*100) / 100 }

// approxTokens is a rough token count (about four characters a token), enough for
// the usage block to look like the API's.
func approxTokens(s string) int { return (len(s) + 3) / 4 }

// writeOpenAIFault answers an errors-mode fault as the API answers that status.
func writeOpenAIFault(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusTooManyRequests:
		writeOpenAIError(w, status, "requests", "", "rate_limit_exceeded",
			"Rate limit reached for requests (fault: HTTP 429). Please try again later.")
	case status == http.StatusUnauthorized:
		writeOpenAIError(w, status, "invalid_request_error", "", "invalid_api_key",
			"Incorrect API key provided (fault: HTTP 401).")
	case status >= 500:
		writeOpenAIError(w, status, "server_error", "", "",
			fmt.Sprintf("The server had an error while processing your request (fault: HTTP %d).", status))
	default:
		writeOpenAIError(w, status, "invalid_request_error", "", "",
			fmt.Sprintf("fake openai: injected failure (fault: HTTP %d)", status))
	}
}

// writeOpenAIError answers in the API's error shape, which openai-go decodes into
// an *openai.Error: {"error": {"message", "type", "param", "code"}}, with null for
// an empty param or code.
func writeOpenAIError(w http.ResponseWriter, status int, typ, param, code, message string) {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	cpaasJSON(w, status, map[string]any{"error": map[string]any{
		"message": message,
		"type":    typ,
		"param":   nullable(param),
		"code":    nullable(code),
	}})
}
