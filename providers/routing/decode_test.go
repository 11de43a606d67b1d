package routing

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAPhoneNumberWrittenWithoutQuotesKeepsItsPlus(t *testing.T) {
	p := mustParse(t, edit(t, basePolicy(t), `{twilio: "+15550001000", vonage: "+15550002000"}`, `{twilio: +15550001000, vonage: +15550002000}`))
	if got := p.Businesses[0].Addresses["twilio"]; got != "+15550001000" {
		t.Errorf("address = %q", got)
	}
}

func TestAnchorsAndMergeKeysShareSettings(t *testing.T) {
	src := edit(t, basePolicy(t), "  cx-global: {kind: dialogflowcx, location: global}",
		"  cx-global: &cx {kind: dialogflowcx, location: global, attempt_timeout: 2500ms, breaker: {slow_call: 2s}}")
	src = edit(t, src, "  cx-europe: {kind: dialogflowcx, location: europe-west1, attempt_timeout: 4s}",
		"  cx-europe: {<<: *cx, location: europe-west1}")
	p := mustParse(t, src)
	if got := p.Provider("cx-europe"); got.AttemptTimeout != 2500*time.Millisecond || got.Location != "europe-west1" || got.Breaker.SlowCall != 2*time.Second {
		t.Errorf("cx-europe = %+v, want cx-global's settings with its own location", got)
	}
}

func TestAnEmptyFileSaysWhatAPolicyNeeds(t *testing.T) {
	_, err := ParseFile("policy.yaml", []byte("# nothing yet\n"))
	if err == nil || !strings.Contains(err.Error(), "policy.yaml:1:1: the policy is empty") {
		t.Errorf("err = %v", err)
	}
}

func TestOnePolicyPerFile(t *testing.T) {
	src := basePolicy(t) + "---\nversion: 1\n"
	_, err := ParseFile("policy.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "policy.yaml:33:1: the file holds 2 YAML documents") {
		t.Errorf("err = %v", err)
	}
}

func TestParseWithoutAFileNameStillGivesLineAndColumn(t *testing.T) {
	_, err := Parse([]byte(edit(t, basePolicy(t), "version: 1", "version: 3")))
	if err == nil || !strings.HasPrefix(err.Error(), "1:10: version: ") {
		t.Errorf("err = %v", err)
	}
}

func TestAliasesThatExpandWithoutEndAreAnErrorNotAHang(t *testing.T) {
	for name, src := range map[string]string{
		"an anchor that merges itself":          "providers:\n  p: &p {<<: [*p, *p]}\n",
		"a billion laughs, by merges of merges": "providers:\n  p0: &p0 {kind: local}\n" + laughs(),
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := ParseFile("policy.yaml", []byte(src)); done <- err }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("parsed")
				}
				t.Log(err)
			case <-time.After(10 * time.Second):
				t.Fatal("parse still running after 10s")
			}
		})
	}
}

// laughs builds p1 merging p0 ten times, p2 merging p1 ten times, and so on: a few
// lines that expand to ten billion merges.
func laughs() string {
	var b strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "  p%d: &p%d {<<: [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*p%d", i-1)
		}
		b.WriteString("]}\n")
	}
	return b.String()
}
