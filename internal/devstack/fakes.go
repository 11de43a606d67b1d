package devstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
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

	conn   app.Connections
	names  map[string]bool
	policy *routing.Policy // the one they were started for
	stops  []func()
}

// Credentials the fake vendors accept besides those webhooks are signed with
// (testmsg.DevTwilioAccountSID and the others). They are not secrets: they only open
// the fakes on loopback.
const (
	vonageAPIKey      = "devvonagekey"
	vonageAPISecret   = "devvonagesecret"
	openAIKey         = "dev-openai-key"
	dialogflowProject = "switchboard-dev"
	dialogflowAgent   = "demo-agent"
)

// StartFakes starts a fake vendor for every provider of pol. agent is what the fake
// Dialogflow CX and OpenAI servers answer from, and the local NLU's cached flows.
func StartFakes(pol *routing.Policy, agent *localnlu.Agent, twilioAuthToken string) (*Fakes, error) {
	f := &Fakes{Outbox: &fake.Outbox{}, Faults: &fake.Faults{}, names: map[string]bool{}, policy: pol}
	if pol.Canary != nil {
		// The canary's replies stay out of /dev/outbox unless asked for (?canary=1).
		// The address is the start's policy's: a reload that changes it is not seen.
		f.Outbox.SetCanaryCustomers(pol.Canary.Customer)
	}
	f.conn = app.Connections{
		DialogflowProject: dialogflowProject, DialogflowAgent: dialogflowAgent,
		OpenAIAPIKey:   openAIKey,
		LocalAgent:     agent,
		Twilio:         twilio.Config{AccountSID: testmsg.DevTwilioAccountSID, AuthToken: twilioAuthToken},
		Vonage:         vonage.Config{APIKey: vonageAPIKey, APISecret: vonageAPISecret},
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
			u, err = f.serve(fake.NewOpenAI(agent, f.Faults, name, openAIKey))
			u += "/v1"
		case routing.KindTwilio:
			u, err = f.serve(fake.NewTwilio(testmsg.DevTwilioAccountSID, twilioAuthToken, f.Outbox, f.Faults, name))
		case routing.KindVonage:
			u, err = f.serve(fake.NewVonage(vonageAPIKey, vonageAPISecret, f.Outbox, f.Faults, name))
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
func (f *Fakes) Apply(cfg *app.Config) {
	cfg.Connections = f.conn
	cfg.Dev = f.DevHandler()
}

// DevHandler serves the fakes' /dev/outbox and /dev/faults.
func (f *Fakes) DevHandler() http.Handler {
	return fake.DevHandler(f.Outbox, f.Faults, func(p string) bool { return f.names[p] })
}

// Connections reach the fakes.
func (f *Fakes) Connections() app.Connections { return f.conn }

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
