package devstack

import (
	"context"
	"testing"

	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// Issue 12, item 9: in dev the canary's turn got the no-match reply, which looks like
// a bug. The demo agent has a canary intent, and every NLU provider of the dev stack
// (the fake Dialogflow CX servers, the LLM against its fake, the local NLU) answers
// the canary's text with it.
func TestDevCanary_EveryNLUProviderOfTheDevStackAnswersTheCanaryIntent(t *testing.T) {
	pol := devPolicy(t)
	if pol.Canary == nil || pol.Canary.Text != routing.DefaultCanaryText {
		t.Fatalf("the dev policy's canary: %+v", pol.Canary)
	}
	fakes, set := startDevProviders(t, pol)
	demo := fakes.conn.LocalAgent
	asked := 0
	for _, name := range pol.ProviderNames() {
		d, ok := set.Detector(name)
		if !ok {
			continue
		}
		asked++
		res, err := d.Detect(context.Background(), nlu.Query{SessionID: "canary-test", Text: pol.Canary.Text, LanguageCode: "en"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if res.Intent != CanaryIntent || res.Reply == "" || res.Reply == demo.NoMatchReply {
			t.Errorf("%s answered the canary with intent %q, reply %q; want %s and its reply", name, res.Intent, res.Reply, CanaryIntent)
		}
	}
	if asked < 3 {
		t.Errorf("only %d NLU providers asked", asked)
	}
}
