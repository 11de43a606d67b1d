package devstack

import (
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// DevWebhookSecret signs the replies of the dev stack's webhook providers whose
// policy names a secret that is not there (in dev, SWITCHBOARD_WEBCHAT_SECRET is
// usually unset). Like the other dev credentials it is no secret: it only opens the
// fake chat receiver on loopback.
const DevWebhookSecret = "dev-webhook-signing-secret-0000"

// devWebhookSecret is the secret the policy names for the webhook provider name, if
// it can be read here, else DevWebhookSecret.
func devWebhookSecret(pol *routing.Policy, name string) []byte {
	if s, err := pol.WebhookSecret(name); err == nil {
		return s
	}
	return []byte(DevWebhookSecret)
}

// webhookSecretEnv is what a `switchboard worker` run against `dev --only-infra`
// needs to sign as the dev stack's fake chat receivers expect: the secret_env of
// each webhook provider whose secret this environment does not have, set to
// DevWebhookSecret, which the fake then verifies with. A secret the environment
// has is the operator's: it is not written out (the worker's environment has it
// too), and a secret_file must exist for the worker to start.
func webhookSecretEnv(pol *routing.Policy) []EnvVar {
	var out []EnvVar
	for _, name := range pol.ProviderNames() {
		p := pol.Provider(name)
		if p.Kind != routing.KindWebhook || p.Webhook.SecretEnv == "" {
			continue
		}
		if _, err := pol.WebhookSecret(name); err != nil {
			out = append(out, EnvVar{p.Webhook.SecretEnv, DevWebhookSecret})
		}
	}
	return out
}
