package devstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 12, item 8: dev generated new tokens at every start, so the $OPS the tour
// exported stopped working after a restart. Generated tokens are kept in the data
// dir (0600); a given token wins and is not written there.
func TestDevTokens_ARestartKeepsTheGeneratedTokens_AGivenTokenWins(t *testing.T) {
	dir := t.TempDir()
	var first Config
	if err := keepTokens(dir, &first); err != nil {
		t.Fatal(err)
	}
	for role, tok := range map[string]string{"ops-": first.OpsToken, "agent-": first.AgentToken, "ingress-": first.IngressToken} {
		if !strings.HasPrefix(tok, role) || len(tok) < 16 {
			t.Errorf("generated %s token %q", role, tok)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, TokensFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", TokensFile, fi.Mode().Perm())
	}

	// The restart: the same tokens (and the file owner-only again if it was widened).
	if err := os.Chmod(filepath.Join(dir, TokensFile), 0o644); err != nil {
		t.Fatal(err)
	}
	var second Config
	if err := keepTokens(dir, &second); err != nil {
		t.Fatal(err)
	}
	if second.OpsToken != first.OpsToken || second.AgentToken != first.AgentToken || second.IngressToken != first.IngressToken {
		t.Errorf("a restart changed the tokens: %+v, then %+v", first, second)
	}
	if fi, err := os.Stat(filepath.Join(dir, TokensFile)); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("after the restart: mode %v, want 0600", fi.Mode().Perm())
	}

	// A given token wins, and the kept one comes back once it is no longer given.
	given := Config{OpsToken: "ops-chosen-by-hand-0000"}
	if err := keepTokens(dir, &given); err != nil {
		t.Fatal(err)
	}
	if given.OpsToken != "ops-chosen-by-hand-0000" || given.AgentToken != first.AgentToken {
		t.Errorf("with --ops-token: %+v", given)
	}
	b, err := os.ReadFile(filepath.Join(dir, TokensFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "chosen-by-hand") {
		t.Errorf("a given token was written to %s", TokensFile)
	}
	var third Config
	if err := keepTokens(dir, &third); err != nil {
		t.Fatal(err)
	}
	if third.OpsToken != first.OpsToken {
		t.Errorf("the kept ops token did not come back: %q, want %q", third.OpsToken, first.OpsToken)
	}
}

func TestDevTokens_ACorruptFileIsNamed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, TokensFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	var dc Config
	if err := keepTokens(dir, &dc); err == nil || !strings.Contains(err.Error(), TokensFile) {
		t.Errorf("got %v, want an error naming %s", err, TokensFile)
	}
}
