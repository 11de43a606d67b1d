package localnlu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	cx "cloud.google.com/go/dialogflow/cx/apiv3"
	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"
)

// IntentLister lists the intents of a Dialogflow CX agent. *cx.IntentsClient
// (cloud.google.com/go/dialogflow/cx/apiv3) is one.
type IntentLister interface {
	ListIntents(ctx context.Context, req *cxpb.ListIntentsRequest, opts ...gax.CallOption) *cx.IntentIterator
}

var _ IntentLister = (*cx.IntentsClient)(nil)

// HandoffLabel is the Dialogflow CX intent label that marks an intent asking for a
// human. Label values are lower-case, so the label is "switchboard-handoff": "true".
const HandoffLabel = "switchboard-handoff"

// defaultNegativeIntentID is the id Dialogflow CX gives the Default Negative Intent
// of every agent; its training phrases are negative examples.
const defaultNegativeIntentID = "00000000-0000-0000-0000-000000000001"

// ExportOptions say which Dialogflow CX agent to export and what to keep from the
// local file being refreshed.
type ExportOptions struct {
	// Agent is the CX agent: projects/<project>/locations/<location>/agents/<agent>.
	Agent string
	// LanguageCode is the language whose training phrases are exported (default
	// Base.LanguageCode).
	LanguageCode string
	// Base is the local agent being refreshed. Required: Dialogflow CX keeps the
	// agent's replies in pages and route fulfillments, not in intents, so the
	// replies, the no-match reply and the display name come from Base, matched by
	// intent display name. A Base intent's Handoff flag carries over too.
	Base *Agent
}

// ExportResult is a refreshed agent and what the refresh left out.
type ExportResult struct {
	// Agent is the refreshed agent, parsed and validated like a loaded file.
	Agent *Agent
	// Omitted are CX intents the refreshed agent does not serve, with the reason:
	// no reply in Base (a new intent needs its reply added to the local file), no
	// usable training phrase, or a negative priority (CX ignores it at runtime).
	Omitted []Omission
	// Removed are Base intents that CX no longer has.
	Removed []string
}

// Omission is one CX intent left out of an export.
type Omission struct {
	Intent string
	Reason string
}

var cxAgentName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/agents/[^/]+$`)

// Export builds a local agent from the intents of a Dialogflow CX agent: every intent
// with training phrases (each phrase's parts joined) and a reply known to opts.Base
// becomes a local intent. The agent's fallback intent (its phrases are negative
// examples) is skipped. The result keeps Base's intent order, so a refreshed file
// diffs cleanly and Match breaks ties as before; it fails rather than return an
// agent with no intents.
//
// Export makes the calls with the client's own call options (retries included): a
// refresh runs in the background, not in a customer's turn.
func Export(ctx context.Context, client IntentLister, opts ExportOptions) (ExportResult, error) {
	switch {
	case !cxAgentName.MatchString(opts.Agent):
		return ExportResult{}, fmt.Errorf("localnlu export: Agent %q is not projects/<p>/locations/<l>/agents/<a>", opts.Agent)
	case opts.Base == nil:
		return ExportResult{}, errors.New("localnlu export: Base is required: replies are kept from the local agent")
	}
	lang := opts.LanguageCode
	if lang == "" {
		lang = opts.Base.LanguageCode
	}

	cxIntents := map[string]*cxpb.Intent{}
	var res ExportResult
	it := client.ListIntents(ctx, &cxpb.ListIntentsRequest{
		Parent:       opts.Agent,
		LanguageCode: lang,
		IntentView:   cxpb.IntentView_INTENT_VIEW_FULL,
		PageSize:     1000,
	})
	for {
		in, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return ExportResult{}, fmt.Errorf("localnlu export: list intents of %s: %w", opts.Agent, err)
		}
		name := in.GetDisplayName()
		switch {
		case in.GetIsFallback() || strings.HasSuffix(in.GetName(), "/intents/"+defaultNegativeIntentID):
			continue
		case in.GetPriority() < 0:
			res.Omitted = append(res.Omitted, Omission{name, "negative priority: ignored at runtime"})
			continue
		}
		cxIntents[name] = in
	}

	out := Agent{
		DisplayName:  opts.Base.DisplayName,
		LanguageCode: lang,
		NoMatchReply: opts.Base.NoMatchReply,
	}
	for _, base := range opts.Base.Intents {
		in, ok := cxIntents[base.Name]
		if !ok {
			res.Removed = append(res.Removed, base.Name)
			continue
		}
		delete(cxIntents, base.Name)
		phrases := trainingPhrases(in)
		if len(phrases) == 0 {
			res.Omitted = append(res.Omitted, Omission{base.Name, "no training phrase in " + lang})
			continue
		}
		out.Intents = append(out.Intents, Intent{
			Name:            base.Name,
			TrainingPhrases: phrases,
			Reply:           base.Reply,
			Description:     strings.TrimSpace(in.GetDescription()),
			Handoff:         base.Handoff || in.GetLabels()[HandoffLabel] == "true",
		})
	}
	// What is left in cxIntents is new in CX, in an order of its own choosing.
	for _, in := range sortedIntents(cxIntents) {
		res.Omitted = append(res.Omitted, Omission{in.GetDisplayName(), "no reply in the local agent"})
	}
	if len(out.Intents) == 0 {
		return res, fmt.Errorf("localnlu export: no intent of %s can be served locally (%d omitted, %d removed)",
			opts.Agent, len(res.Omitted), len(res.Removed))
	}

	// Round-trip through the file form: the result is exactly what LoadAgent of the
	// written file returns, validated the same way.
	b, err := MarshalAgent(&out)
	if err != nil {
		return res, fmt.Errorf("localnlu export: %w", err)
	}
	if res.Agent, err = ParseAgent(b); err != nil {
		return res, fmt.Errorf("localnlu export: %w", err)
	}
	return res, nil
}

// Refresh re-exports the local agent file at path from the CX agent cxAgent: it
// loads the file as the Base, exports, and replaces the file atomically. On any
// error the file is left as it was.
func Refresh(ctx context.Context, client IntentLister, path, cxAgent string) (ExportResult, error) {
	base, err := LoadAgent(path)
	if err != nil {
		return ExportResult{}, err
	}
	res, err := Export(ctx, client, ExportOptions{Agent: cxAgent, Base: base})
	if err != nil {
		return res, err
	}
	if err := WriteAgentFile(path, res.Agent); err != nil {
		return res, err
	}
	return res, nil
}

// trainingPhrases joins each training phrase's parts (CX splits a phrase where a
// parameter is annotated: "track order " + "12345") and drops empty and repeated
// phrases and those Match could never use.
func trainingPhrases(in *cxpb.Intent) []string {
	var out []string
	seen := map[string]bool{}
	for _, tp := range in.GetTrainingPhrases() {
		p := joinParts(tp)
		if p == "" || seen[p] || len(newTokenSet(p)) == 0 {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

func joinParts(tp *cxpb.Intent_TrainingPhrase) string {
	var b strings.Builder
	for _, part := range tp.GetParts() {
		b.WriteString(part.GetText())
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func sortedIntents(m map[string]*cxpb.Intent) []*cxpb.Intent {
	out := slices.Collect(maps.Values(m))
	// Stable output for the report: by display name.
	slices.SortFunc(out, func(a, b *cxpb.Intent) int { return strings.Compare(a.GetDisplayName(), b.GetDisplayName()) })
	return out
}

// MarshalAgent encodes a in the agent file's JSON form, indented, with a final
// newline. Replies keep their characters as written ("&" is not escaped).
func MarshalAgent(a *Agent) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(a); err != nil {
		return nil, fmt.Errorf("agent: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteAgentFile writes a to path atomically: readers see the old file or the new
// one, never a partial write.
func WriteAgentFile(path string, a *Agent) error {
	b, err := MarshalAgent(a)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write agent: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write agent %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write agent %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write agent %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write agent %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write agent %s: %w", path, err)
	}
	return nil
}
