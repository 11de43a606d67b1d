package devstack

// FakesEnv is what a `switchboard worker` needs to reach the fakes (and an `api` to
// verify their webhooks), as SWITCHBOARD_<FLAG> settings: each fake's address by
// provider name and the credentials that open them, among them the signing secret
// of each webhook provider whose secret_env this environment does not set. `dev --only-infra` writes them
// to infra.env; `switchboard drill` passes them to the processes it starts.
func (f *Fakes) FakesEnv(vonageSignatureSecret string) []EnvVar {
	c := f.conn
	env := []EnvVar{
		{"SWITCHBOARD_PROVIDER_URL", providerURLList(c.ProviderURLs)},
		{"SWITCHBOARD_DIALOGFLOW_PROJECT", c.DialogflowProject},
		{"SWITCHBOARD_DIALOGFLOW_AGENT", c.DialogflowAgent},
		{"SWITCHBOARD_OPENAI_API_KEY", c.OpenAIAPIKey},
		{"SWITCHBOARD_TWILIO_ACCOUNT_SID", c.Twilio.AccountSID},
		{"SWITCHBOARD_TWILIO_AUTH_TOKEN", c.Twilio.AuthToken},
		{"SWITCHBOARD_VONAGE_API_KEY", c.Vonage.APIKey},
		{"SWITCHBOARD_VONAGE_API_SECRET", c.Vonage.APISecret},
		{"SWITCHBOARD_VONAGE_SIGNATURE_SECRET", vonageSignatureSecret},
	}
	return append(env, webhookSecretEnv(f.policy)...)
}
