package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFile_FlagsWinOverTheEnvironment_WhichWinsOverTheFile(t *testing.T) {
	path := writeConfig(t, `
nats-url: nats://file:4222
temporal-address: file:7233
instance: from-the-file
stream-replicas: 1
provider-url: {twilio: "http://127.0.0.1:1", cx-global: "http://127.0.0.1:2"}
`)
	t.Setenv("SWITCHBOARD_CONFIG", path)
	t.Setenv("SWITCHBOARD_TEMPORAL_ADDRESS", "env:7233")
	cmd := subcommand(t, "worker")
	if err := cmd.ParseFlags([]string{"--instance", "from-the-flag"}); err != nil {
		t.Fatal(err)
	}
	if err := bindEnv(cmd); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"nats-url":         "nats://file:4222",
		"temporal-address": "env:7233",
		"instance":         "from-the-flag",
		"stream-replicas":  "1",
		"provider-url":     "[cx-global=http://127.0.0.1:2,twilio=http://127.0.0.1:1]",
	} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %s, want %s", flag, got, want)
		}
	}
}

func TestConfigFile_AnUnknownKeyOrABadValueIsNamed(t *testing.T) {
	for body, want := range map[string]string{
		"nats-ulr: nats://x:4222\n": "nats-ulr is not a setting of switchboard api",
		"stream-replicas: three\n":  "stream-replicas",
		"vonage-api-key: k\n":       "vonage-api-key is not a setting of switchboard api", // a worker setting
		"nats-url: [a\n":            "--config",
	} {
		cmd := subcommand(t, "api")
		if err := cmd.ParseFlags([]string{"--config", writeConfig(t, body)}); err != nil {
			t.Fatal(err)
		}
		err := bindEnv(cmd)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error naming %q", body, err, want)
		}
	}
}
