package localnlu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Agent is a small conversational agent: intents with training phrases and replies.
// The local NLU (Detector) serves it as its cached flows when every vendor is down,
// and the fake vendors (providers/fake) answer from the same Agent, so all of them
// agree on what a phrase means.
//
// An Agent is read-only after ParseAgent or LoadAgent and safe for concurrent use.
// Its JSON form is the local agent file (deploy/agent/demo-agent.json is one); Export
// builds that file from a Dialogflow CX agent.
type Agent struct {
	DisplayName  string   `json:"display_name"`
	LanguageCode string   `json:"language_code"`
	NoMatchReply string   `json:"no_match_reply"`
	Intents      []Intent `json:"intents"`

	// phrases[i] holds the token sets of Intents[i]'s training phrases, built once
	// so that matching allocates only for the query.
	phrases [][]tokenSet
}

// Intent is one thing a customer may want.
type Intent struct {
	Name            string   `json:"name"`
	TrainingPhrases []string `json:"training_phrases"`
	Reply           string   `json:"reply"`
	// Description says what the intent covers, for people and for the LLM provider's
	// prompt; Match ignores it. Export copies it from the Dialogflow CX intent.
	Description string `json:"description,omitempty"`
	// Handoff marks an intent that asks for a human: the workflow escalates on it.
	Handoff bool `json:"handoff,omitempty"`
}

// MatchThreshold is the lowest score Match accepts. It admits a query that shares
// one of two meaningful words with a training phrase ("track my parcel" against
// "track my package") and refuses looser overlaps.
const MatchThreshold = 0.5

// LoadAgent reads and parses an agent file.
func LoadAgent(path string) (*Agent, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load agent: %w", err)
	}
	a, err := ParseAgent(b)
	if err != nil {
		return nil, fmt.Errorf("load agent %s: %w", path, err)
	}
	return a, nil
}

// ParseAgent parses and validates an agent in its JSON form. Unknown fields are
// errors: a misspelt "training_phrase" would otherwise leave an intent that never
// matches.
func ParseAgent(b []byte) (*Agent, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a Agent
	if err := dec.Decode(&a); err != nil {
		return nil, jsonError(b, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("agent: unexpected data after the agent object")
	}
	if err := a.compile(); err != nil {
		return nil, err
	}
	return &a, nil
}

func (a *Agent) compile() error {
	if strings.TrimSpace(a.DisplayName) == "" {
		return errors.New("agent: display_name is required")
	}
	if a.LanguageCode == "" {
		a.LanguageCode = "en"
	}
	if strings.TrimSpace(a.NoMatchReply) == "" {
		return errors.New("agent: no_match_reply is required")
	}
	if len(a.Intents) == 0 {
		return errors.New("agent: intents is empty")
	}
	seen := map[string]bool{}
	a.phrases = make([][]tokenSet, len(a.Intents))
	for i, in := range a.Intents {
		where := fmt.Sprintf("agent: intents[%d]", i)
		if in.Name != "" {
			where = fmt.Sprintf("agent: intents[%d] (%q)", i, in.Name)
		}
		switch {
		case strings.TrimSpace(in.Name) == "":
			return fmt.Errorf("%s: name is required", where)
		case in.Name == turn.NoMatch:
			return fmt.Errorf("%s: name %q is reserved for no match", where, turn.NoMatch)
		case seen[in.Name]:
			return fmt.Errorf("%s: duplicate intent name", where)
		case len(in.TrainingPhrases) == 0:
			return fmt.Errorf("%s: training_phrases is empty", where)
		case strings.TrimSpace(in.Reply) == "":
			return fmt.Errorf("%s: reply is required", where)
		}
		seen[in.Name] = true
		for j, p := range in.TrainingPhrases {
			ts := newTokenSet(p)
			if len(ts) == 0 {
				return fmt.Errorf("%s: training_phrases[%d] %q has no words", where, j, p)
			}
			a.phrases[i] = append(a.phrases[i], ts)
		}
	}
	return nil
}

// Intent returns the intent with the given name.
func (a *Agent) Intent(name string) (Intent, bool) {
	for _, in := range a.Intents {
		if in.Name == name {
			return in, true
		}
	}
	return Intent{}, false
}

// Match finds the intent whose training phrases best overlap text. Without a match
// (best score below MatchThreshold) it returns matched false, no intent, the
// agent's no-match reply and zero confidence. Deterministic: ties go to the intent
// listed first.
func (a *Agent) Match(text string) (intent string, reply string, confidence float32, matched bool) {
	q := newTokenSet(text)
	best, bestScore := -1, 0.0
	for i := range a.Intents {
		for _, p := range a.phrases[i] {
			if s := score(q, p); s > bestScore {
				best, bestScore = i, s
			}
		}
	}
	if best < 0 || bestScore < MatchThreshold {
		return "", a.NoMatchReply, 0, false
	}
	return a.Intents[best].Name, a.Intents[best].Reply, float32(bestScore), true
}

// tokenSet is the meaningful words of a phrase. Matching on word sets rather than
// strings lets "Where's my order?" meet "where is my order".
type tokenSet map[string]struct{}

// stopWords carry little meaning in a customer-service request; ignoring them
// keeps "what are your hours" from matching "what is your name".
var stopWords = map[string]bool{
	"a": true, "am": true, "an": true, "and": true, "any": true, "are": true, "at": true,
	"be": true, "can": true, "could": true, "did": true, "do": true, "does": true,
	"for": true, "here": true, "i": true, "im": true, "in": true, "is": true, "it": true,
	"its": true, "just": true, "me": true, "my": true, "of": true, "on": true, "or": true,
	"please": true, "pls": true, "plz": true, "so": true, "some": true, "that": true,
	"the": true, "there": true, "this": true, "to": true, "was": true, "what": true,
	"whats": true, "will": true, "with": true, "would": true, "you": true, "youre": true,
	"your": true,
}

// newTokenSet lower-cases text, splits it into words (apostrophes dropped, so
// "what's" is "whats"), drops stop words and strips a plural "s". A phrase made only
// of stop words ("are you there") keeps them all, so it can still match.
func newTokenSet(text string) tokenSet {
	words := strings.FieldsFunc(
		strings.Map(func(r rune) rune {
			if r == '\'' || r == '’' {
				return -1
			}
			return unicode.ToLower(r)
		}, text),
		func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) },
	)
	content, all := tokenSet{}, tokenSet{}
	for _, w := range words {
		s := stem(w)
		all[s] = struct{}{}
		if !stopWords[w] {
			content[s] = struct{}{}
		}
	}
	if len(content) == 0 {
		return all
	}
	return content
}

func stem(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		return w[:len(w)-1]
	}
	return w
}

// score weighs how much of the training phrase the query covers (mostly) against
// how much of the query the phrase explains, so that a long message that contains a
// whole phrase still matches it, and the phrase explaining more of the message wins.
func score(q, p tokenSet) float64 {
	common := 0
	for w := range p {
		if _, ok := q[w]; ok {
			common++
		}
	}
	if common == 0 {
		return 0
	}
	return 0.7*float64(common)/float64(len(p)) + 0.3*float64(common)/float64(len(q))
}

// jsonError turns a decoding error into one that names the line and column.
func jsonError(b []byte, err error) error {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	if offset < 0 {
		return fmt.Errorf("agent: %w", err)
	}
	// Offset counts the bytes read, the offending one included.
	pos := int(min(max(offset-1, 0), int64(len(b))))
	line := 1 + bytes.Count(b[:pos], []byte("\n"))
	col := pos - bytes.LastIndexByte(b[:pos], '\n')
	return fmt.Errorf("agent: line %d, column %d: %w", line, col, err)
}
