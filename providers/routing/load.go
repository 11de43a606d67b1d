package routing

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxPolicyBytes bounds a policy file.
const MaxPolicyBytes = 1 << 20

// Load reads, parses and validates the policy file at path. Errors name the file.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routing policy: %w", err)
	}
	return ParseFile(path, data)
}

// Parse parses and validates a policy. Errors carry line:column but no file name;
// see ParseFile.
func Parse(data []byte) (*Policy, error) { return ParseFile("", data) }

// ParseFile parses and validates a policy read from the file name (used in errors).
func ParseFile(name string, data []byte) (*Policy, error) {
	src := &source{
		file:   name,
		pos:    map[string]token.Position{},
		keyPos: map[string]token.Position{},
		origin: map[string]string{},
		bad:    map[string]bool{},
	}
	errs := &errorList{src: src}
	if len(data) > MaxPolicyBytes {
		errs.at("", "the file is %d bytes; a policy may not exceed %d", len(data), MaxPolicyBytes)
		return nil, errs.err()
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		e := &Error{File: name, Msg: err.Error()}
		var ye yaml.Error
		if errors.As(err, &ye) {
			e.Msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				e.Line, e.Column = tk.Position.Line, tk.Position.Column
			}
		}
		return nil, errors.Join(e)
	}
	var bodies []ast.Node
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			bodies = append(bodies, doc.Body)
		}
	}
	if len(bodies) == 0 {
		errs.at("", "the policy is empty: it needs at least version, providers, businesses, channels and replies")
		return nil, errs.err()
	}
	body := bodies[0]
	if len(bodies) > 1 {
		e := &Error{File: name, Msg: fmt.Sprintf("the file holds %d YAML documents; a policy is one", len(bodies))}
		if pos, ok := tokenPos(bodies[1]); ok {
			e.Line, e.Column = pos.Line, pos.Column
		}
		return nil, errors.Join(e)
	}

	d := &decoder{src: src, errs: errs, anchors: map[string]ast.Node{}}
	ast.Walk(d, body)
	var raw rawPolicy
	d.decode(body, "", reflect.ValueOf(&raw).Elem())

	p := build(&raw, src, errs)
	p.src = src
	p.validate(errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// rawPolicy and the raw types below are the file as written. Pointers tell "not
// written" from zero.
type rawPolicy struct {
	Version    *int                   `yaml:"version"`
	Language   string                 `yaml:"language"`
	Defaults   rawSettings            `yaml:"defaults"`
	Providers  map[string]rawProvider `yaml:"providers"`
	Businesses []rawBusiness          `yaml:"businesses"`
	Channels   map[string]rawChannel  `yaml:"channels"`
	Escalation *rawEscalation         `yaml:"escalation"`
	Replies    rawReplies             `yaml:"replies"`
	StuckAfter *time.Duration         `yaml:"stuck_after"`
	StaleReply rawStaleReply          `yaml:"stale_reply"`
	Canary     *rawCanary             `yaml:"canary"`
	Voice      *rawVoice              `yaml:"voice"`
}

type rawStaleReply struct {
	After   *time.Duration `yaml:"after"`
	Action  string         `yaml:"action"`
	Apology *string        `yaml:"apology"`
}

type rawCanary struct {
	Business string `yaml:"business"`
	Channel  string `yaml:"channel"`
	Customer string `yaml:"customer"`
	Text     string `yaml:"text"`
}

type rawSettings struct {
	AttemptTimeout *time.Duration `yaml:"attempt_timeout"`
	Retries        *int           `yaml:"retries"`
	Breaker        rawBreaker     `yaml:"breaker"`
	ProbeInterval  *time.Duration `yaml:"probe_interval"`
	HedgeAfter     *time.Duration `yaml:"hedge_after"`
	HedgeMax       *int           `yaml:"hedge_max_in_flight"`
}

type rawBreaker struct {
	ConsecutiveFailures *int           `yaml:"consecutive_failures"`
	FailureRate         *float64       `yaml:"failure_rate"`
	Window              *time.Duration `yaml:"window"`
	MinCalls            *int           `yaml:"min_calls"`
	SlowCall            *time.Duration `yaml:"slow_call"`
	OpenFor             *time.Duration `yaml:"open_for"`
	HalfOpenProbes      *int           `yaml:"half_open_probes"`
}

type rawProvider struct {
	Kind        string `yaml:"kind"`
	Location    string `yaml:"location"`
	Project     string `yaml:"project"`
	Agent       string `yaml:"agent"`
	Endpoint    string `yaml:"endpoint"`
	Model       string `yaml:"model"`
	rawWebhook  `yaml:",inline"`
	rawSettings `yaml:",inline"`
	Classify    rawClassify `yaml:"classify"`
}

type rawClassify struct {
	Unavailable []int `yaml:"unavailable"`
	RateLimited []int `yaml:"rate_limited"`
	Timeout     []int `yaml:"timeout"`
	Rejected    []int `yaml:"rejected"`
}

type rawBusiness struct {
	Name      string            `yaml:"name"`
	Addresses map[string]string `yaml:"addresses"`
	Language  string            `yaml:"language"`
}

type rawChannel struct {
	NLU             []string `yaml:"nlu"`
	CPaaS           []string `yaml:"cpaas"`
	FallbackChannel string   `yaml:"fallback_channel"`
}

type rawEscalation struct {
	HandoffIntents []string   `yaml:"handoff_intents"`
	MaxNoMatch     *int       `yaml:"max_no_match"`
	Queues         []rawQueue `yaml:"queues"`
	FinalMessage   string     `yaml:"final_message"`
}

type rawQueue struct {
	Name   string         `yaml:"name"`
	AckSLA *time.Duration `yaml:"ack_sla"`
}

type rawReplies struct {
	Fallback   string `yaml:"fallback"`
	Escalating string `yaml:"escalating"`
}
