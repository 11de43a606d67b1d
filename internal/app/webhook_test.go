package app

import (
	"context"
	"os"
	"strings"
	"testing"
)

// unsetEnv removes name for the test, restoring it after.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	os.Unsetenv(name)
}

func TestAWorkerWhoseWebhookSecretIsMissing_RefusesToStart_NamingTheProvider(t *testing.T) {
	unsetEnv(t, "SWITCHBOARD_WEBCHAT_SECRET")
	_, err := BuildProviders(context.Background(), devPolicy(t), Connections{})
	if err == nil || !strings.Contains(err.Error(), "provider webchat (webhook)") || !strings.Contains(err.Error(), "SWITCHBOARD_WEBCHAT_SECRET is not set") {
		t.Fatalf("BuildProviders = %v, want the start refused for webchat's secret", err)
	}
	t.Setenv("SWITCHBOARD_WEBCHAT_SECRET", "a-secret-from-the-environment")
	c, err := Connections{}.withWebhookSecrets(devPolicy(t))
	if err != nil || string(c.WebhookSecrets["webchat"]) != "a-secret-from-the-environment" {
		t.Fatalf("secrets %q, %v: want webchat's from the environment", c.WebhookSecrets, err)
	}
}
