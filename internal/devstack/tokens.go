package devstack

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TokensFile is the file in the dev data dir that keeps the bearer tokens dev
// generated, so that a restart keeps them (and the $OPS a shell exported still
// works). It is owner-only (0600).
const TokensFile = "tokens.json"

// keptTokens is TokensFile's content: the generated token of each role.
type keptTokens struct {
	Ops     string `json:"ops,omitempty"`
	Agent   string `json:"agent,omitempty"`
	Ingress string `json:"ingress,omitempty"`
}

// keepTokens fills the tokens of dc that are not given: from TokensFile in
// dir if it has them, else generated and written there. A given token wins and is
// not written, so the generated one comes back when it is no longer given.
func keepTokens(dir string, dc *Config) error {
	file := filepath.Join(dir, TokensFile)
	var kept keptTokens
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("dev tokens: %w", err)
	default:
		// Owner-only, even if someone widened it.
		if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(file, 0o600); err != nil {
				return fmt.Errorf("dev tokens: %w", err)
			}
		}
		if err := json.Unmarshal(b, &kept); err != nil {
			return fmt.Errorf("dev tokens: %s: %w (delete it to generate new tokens)", file, err)
		}
	}
	changed := false
	for _, t := range []struct {
		given, kept *string
		prefix      string
	}{
		{&dc.OpsToken, &kept.Ops, "ops-"},
		{&dc.AgentToken, &kept.Agent, "agent-"},
		{&dc.IngressToken, &kept.Ingress, "ingress-"},
	} {
		if *t.given != "" {
			continue
		}
		if *t.kept == "" {
			*t.kept = t.prefix + randomToken()
			changed = true
		}
		*t.given = *t.kept
	}
	if !changed {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dev tokens: %w", err)
	}
	out, err := json.MarshalIndent(kept, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, TokensFile+".*")
	if err != nil {
		return fmt.Errorf("dev tokens: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600; Chmod says so even under an odd umask.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("dev tokens: %w", err)
	}
	if _, err := tmp.Write(append(out, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("dev tokens: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("dev tokens: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("dev tokens: %w", err)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
