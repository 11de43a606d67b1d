package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/internal/devnats"
	"github.com/switchboard-cc/switchboard/providers/dialogflowcx"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Credentials the dev stack's fake vendors accept. They are not secrets: they only
// open the fakes on loopback. Twilio requires alphanumeric test credentials.
const (
	DevTwilioAccountSID      = "ACdev00000000000000000000000000000"
	DevTwilioAuthToken       = "devtwilioauthtoken0000000000000"
	DevVonageAPIKey          = "devvonagekey"
	DevVonageAPISecret       = "devvonagesecret"
	DevVonageSignatureSecret = "dev-vonage-signature-secret"
	devDialogflowProject     = "switchboard-dev"
	devDialogflowLocation    = "global"
	devDialogflowAgent       = "demo-agent"
)

// EmbeddedTemporal is a running embedded Temporal server.
type EmbeddedTemporal interface {
	FrontendAddr() string
	UIURL() string
	Stop() error
}

// TemporalOptions are what the dev stack asks of its embedded Temporal server.
type TemporalOptions struct {
	DBFile           string // empty: in memory
	FrontendPort     int    // -1: random
	UIPort           int    // -1: random; 0 with DisableUI
	DisableUI        bool
	SearchAttributes map[string]enumspb.IndexedValueType
}

// TemporalStarter starts an embedded Temporal server. It is a parameter so that this
// package does not import the Temporal server, which only the binary and end-to-end
// tests may pay for (package devtemporal provides it).
type TemporalStarter func(ctx context.Context, o TemporalOptions) (EmbeddedTemporal, error)

// DevConfig configures `switchboard dev`.
type DevConfig struct {
	DataDir      string
	HTTPAddr     string
	TemporalPort int
	UIPort       int
	DisableUI    bool
	NATSPort     int
	PublicURL    string
	// TwilioAuthToken signs Twilio webhooks and opens the fake Twilio.
	TwilioAuthToken       string
	VonageSignatureSecret string
	// AgentFile overrides the embedded demo agent.
	AgentFile string
	// InMemory keeps NATS and Temporal state in memory (tests only).
	InMemory bool
	// Workflow options for conversations.
	Workflow workflows.Options
}

// DevReady describes a started dev stack.
type DevReady struct {
	API, TemporalUI, Temporal, NATS string
	Outbox                          *fake.Outbox
	Faults                          *fake.Faults
}

// RunDev runs the whole stack in one process: NATS with JetStream, Temporal with its
// UI, the fake vendors, the worker and the API, until ctx is cancelled.
func RunDev(ctx context.Context, dc DevConfig, startTemporal TemporalStarter, log *slog.Logger, onReady func(DevReady)) error {
	if dc.TwilioAuthToken == "" {
		dc.TwilioAuthToken = DevTwilioAuthToken
	}
	if dc.VonageSignatureSecret == "" {
		dc.VonageSignatureSecret = DevVonageSignatureSecret
	}
	agentDef := agent.Demo
	if dc.AgentFile != "" {
		b, err := os.ReadFile(dc.AgentFile)
		if err != nil {
			return fmt.Errorf("agent file: %w", err)
		}
		agentDef = b
	}
	demo, err := fake.ParseAgent(agentDef)
	if err != nil {
		return fmt.Errorf("agent file: %w", err)
	}
	if dc.HTTPAddr == "" {
		return errors.New("HTTPAddr (--http-addr) is required")
	}
	var natsDir, dbFile string
	if !dc.InMemory {
		if dc.DataDir == "" {
			return errors.New("DataDir (--data-dir) is required")
		}
		natsDir = filepath.Join(dc.DataDir, "nats")
		dbFile = filepath.Join(dc.DataDir, "temporal.db")
		if err := os.MkdirAll(natsDir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	// Fail before starting anything when the API port is taken.
	if err := checkFree(dc.HTTPAddr); err != nil {
		return err
	}

	ns, err := devnats.Start(devnats.Config{Port: dc.NATSPort, StoreDir: natsDir, Logger: slog.New(minLevel{log.Handler(), slog.LevelWarn}).With("component", "nats")})
	if err != nil {
		return err
	}
	defer ns.Stop()

	tsrv, err := startTemporal(ctx, TemporalOptions{
		DBFile: dbFile, FrontendPort: dc.TemporalPort, UIPort: dc.UIPort, DisableUI: dc.DisableUI,
		SearchAttributes: workflows.SearchAttributes(),
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := tsrv.Stop(); err != nil {
			log.Warn("temporal shutdown", "error", err)
		}
	}()

	var outbox fake.Outbox
	var faults fake.Faults
	cx := fake.NewDialogflow(demo, &faults, dialogflowcx.DefaultName)
	cxAddr, err := cx.Start("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("fake Dialogflow CX: %w", err)
	}
	defer cx.Stop()
	twURL, stopTw, err := serveLoopback(fake.NewTwilio(DevTwilioAccountSID, dc.TwilioAuthToken, &outbox, &faults, "twilio"))
	if err != nil {
		return fmt.Errorf("fake Twilio: %w", err)
	}
	defer stopTw()
	vgURL, stopVg, err := serveLoopback(fake.NewVonage(DevVonageAPIKey, DevVonageAPISecret, &outbox, &faults, "vonage"))
	if err != nil {
		return fmt.Errorf("fake Vonage: %w", err)
	}
	defer stopVg()

	known := func(p string) bool { return p == dialogflowcx.DefaultName || p == "twilio" || p == "vonage" }
	cfg := Config{
		HTTPAddr:     dc.HTTPAddr,
		PublicURL:    dc.PublicURL,
		NATSURL:      ns.ClientURL(),
		TemporalAddr: tsrv.FrontendAddr(),
		Dialogflow: dialogflowcx.Config{
			Endpoint: cxAddr, Insecure: true, ProjectID: devDialogflowProject, Location: devDialogflowLocation,
			AgentID: devDialogflowAgent, LanguageCode: demo.LanguageCode,
		},
		Twilio:                twilio.Config{AccountSID: DevTwilioAccountSID, AuthToken: dc.TwilioAuthToken, BaseURL: twURL},
		Vonage:                vonage.Config{APIKey: DevVonageAPIKey, APISecret: DevVonageAPISecret, BaseURL: vgURL},
		VonageSignatureSecret: dc.VonageSignatureSecret,
		Workflow:              dc.Workflow,
		Dev:                   fake.DevHandler(&outbox, &faults, known),
	}
	cfg.Streams.MemoryStorage = dc.InMemory
	return Run(ctx, cfg, log, func(r Ready) {
		if onReady != nil {
			onReady(DevReady{API: "http://" + r.HTTPAddr, TemporalUI: tsrv.UIURL(), Temporal: tsrv.FrontendAddr(), NATS: ns.ClientURL(), Outbox: &outbox, Faults: &faults})
		}
	})
}

// serveLoopback serves h on a random loopback port, as a vendor's host.
func serveLoopback(h http.Handler) (string, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	return "http://" + lis.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func checkFree(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("HTTP address %s is not available: %w", addr, err)
	}
	return lis.Close()
}

// minLevel drops records below a level, for chatty embedded servers.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }
