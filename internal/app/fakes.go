package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// Fakes are the fake vendors of the dev stack: one per provider instance of the
// policy, each on its own loopback port as a vendor's own host would be, named as the
// policy names it (so /dev/faults switches exactly one provider), all sharing one
// outbox and one set of fault switches.
type Fakes struct {
	Outbox *fake.Outbox
	Faults *fake.Faults

	conn   Connections
	names  map[string]bool
	policy *routing.Policy // the one they were started for
	stops  []func()
}

// devOpenAIKey opens the fake OpenAI server.
const devOpenAIKey = "dev-openai-key"

// StartFakes starts a fake vendor for every provider of pol. agent is what the fake
// Dialogflow CX and OpenAI servers answer from, and the local NLU's cached flows.
func StartFakes(pol *routing.Policy, agent *localnlu.Agent, twilioAuthToken string) (*Fakes, error) {
	f := &Fakes{Outbox: &fake.Outbox{}, Faults: &fake.Faults{}, names: map[string]bool{}, policy: pol}
	if pol.Canary != nil {
		// The canary's replies stay out of /dev/outbox unless asked for (?canary=1).
		// The address is the start's policy's: a reload that changes it is not seen.
		f.Outbox.SetCanaryCustomers(pol.Canary.Customer)
	}
	f.conn = Connections{
		DialogflowProject: devDialogflowProject, DialogflowAgent: devDialogflowAgent,
		OpenAIAPIKey:   devOpenAIKey,
		LocalAgent:     agent,
		Twilio:         twilio.Config{AccountSID: DevTwilioAccountSID, AuthToken: twilioAuthToken},
		Vonage:         vonage.Config{APIKey: DevVonageAPIKey, APISecret: DevVonageAPISecret},
		ProviderURLs:   map[string]string{},
		WebhookSecrets: map[string][]byte{},
	}
	for _, name := range pol.ProviderNames() {
		p := pol.Provider(name)
		f.names[name] = true
		var (
			u   string
			err error
		)
		switch p.Kind {
		case routing.KindDialogflowCX:
			cx := fake.NewDialogflow(agent, f.Faults, name)
			u, err = cx.Start("127.0.0.1:0")
			if err == nil {
				f.stops = append(f.stops, cx.Stop)
				u = "http://" + u // gRPC without TLS
			}
		case routing.KindOpenAI:
			u, err = f.serve(fake.NewOpenAI(agent, f.Faults, name, devOpenAIKey))
			u += "/v1"
		case routing.KindTwilio:
			u, err = f.serve(fake.NewTwilio(DevTwilioAccountSID, twilioAuthToken, f.Outbox, f.Faults, name))
		case routing.KindVonage:
			u, err = f.serve(fake.NewVonage(DevVonageAPIKey, DevVonageAPISecret, f.Outbox, f.Faults, name))
		case routing.KindWebhook:
			secret := devWebhookSecret(pol, name)
			f.conn.WebhookSecrets[name] = secret
			u, err = f.serve(fake.NewChatReceiver(secret, f.Outbox, f.Faults, name))
			u += "/replies"
		}
		if u != "" && err == nil {
			f.conn.ProviderURLs[name] = u
		}
		if err != nil {
			f.Stop()
			return nil, fmt.Errorf("fake for provider %s: %w", name, err)
		}
	}
	return f, nil
}

// Apply points cfg's vendor clients at the fakes and mounts their /dev/ API.
func (f *Fakes) Apply(cfg *Config) {
	cfg.Connections = f.conn
	cfg.Dev = f.DevHandler()
}

// DevHandler serves the fakes' /dev/outbox and /dev/faults.
func (f *Fakes) DevHandler() http.Handler {
	return fake.DevHandler(f.Outbox, f.Faults, func(p string) bool { return f.names[p] })
}

// Connections reach the fakes.
func (f *Fakes) Connections() Connections { return f.conn }

// Stop stops every fake.
func (f *Fakes) Stop() {
	for i := len(f.stops) - 1; i >= 0; i-- {
		f.stops[i]()
	}
}

// serve serves h on a random loopback port.
func (f *Fakes) serve(h http.Handler) (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	f.stops = append(f.stops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + lis.Addr().String(), nil
}

// CanaryIntent is the demo agent's intent for the stack canary's text ("switchboard
// canary", routing.DefaultCanaryText), so that the canary's turn in dev is answered
// and not the no-match text.
const CanaryIntent = "switchboard.canary"
