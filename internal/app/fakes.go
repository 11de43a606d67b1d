package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-cc/switchboard/providers/dialogflowcx"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// Fakes are the fake vendors of the dev stack, each on its own loopback port as a
// vendor's own host would be, sharing one outbox and one set of fault switches.
type Fakes struct {
	Outbox *fake.Outbox
	Faults *fake.Faults

	dialogflow dialogflowcx.Config
	twilio     twilio.Config
	vonage     vonage.Config
	stops      []func()
}

// StartFakes starts fake Dialogflow CX (serving agent), Twilio and Vonage servers.
func StartFakes(agent *fake.Agent, twilioAuthToken string) (*Fakes, error) {
	f := &Fakes{Outbox: &fake.Outbox{}, Faults: &fake.Faults{}}
	cx := fake.NewDialogflow(agent, f.Faults, dialogflowcx.DefaultName)
	cxAddr, err := cx.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake Dialogflow CX: %w", err)
	}
	f.stops = append(f.stops, cx.Stop)
	twURL, err := f.serve(fake.NewTwilio(DevTwilioAccountSID, twilioAuthToken, f.Outbox, f.Faults, "twilio"))
	if err != nil {
		f.Stop()
		return nil, fmt.Errorf("fake Twilio: %w", err)
	}
	vgURL, err := f.serve(fake.NewVonage(DevVonageAPIKey, DevVonageAPISecret, f.Outbox, f.Faults, "vonage"))
	if err != nil {
		f.Stop()
		return nil, fmt.Errorf("fake Vonage: %w", err)
	}
	f.dialogflow = dialogflowcx.Config{
		Endpoint: cxAddr, Insecure: true, ProjectID: devDialogflowProject, Location: devDialogflowLocation,
		AgentID: devDialogflowAgent, LanguageCode: agent.LanguageCode,
	}
	f.twilio = twilio.Config{AccountSID: DevTwilioAccountSID, AuthToken: twilioAuthToken, BaseURL: twURL}
	f.vonage = vonage.Config{APIKey: DevVonageAPIKey, APISecret: DevVonageAPISecret, BaseURL: vgURL}
	return f, nil
}

// Apply points cfg's vendor clients at the fakes and mounts their /dev/ API.
func (f *Fakes) Apply(cfg *Config) {
	cfg.Dialogflow, cfg.Twilio, cfg.Vonage = f.dialogflow, f.twilio, f.vonage
	known := func(p string) bool { return p == dialogflowcx.DefaultName || p == "twilio" || p == "vonage" }
	cfg.Dev = fake.DevHandler(f.Outbox, f.Faults, known)
}

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
