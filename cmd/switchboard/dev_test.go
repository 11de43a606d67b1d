//go:build !slim

package main

import (
	"os/exec"
	"testing"
)

func TestShellQuote_TheShellReadsBackTheValue(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, v := range []string{"nats://127.0.0.1:4222", "/tmp/a dir/policy.yaml", "it's", "a=b,c=http://x/v1", ""} {
		q := shellQuote(v)
		out, err := exec.Command(sh, "-c", "printf %s "+q).Output()
		if err != nil || string(out) != v {
			t.Errorf("%q quoted as %s reads back as %q (%v)", v, q, out, err)
		}
	}
	if shellQuote("nats://127.0.0.1:4222") != "nats://127.0.0.1:4222" {
		t.Error("a plain value was quoted")
	}
}
