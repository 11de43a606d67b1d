package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Target is the stack a drill runs against: its own topology (filled in by
// StartTopology) or an existing stack given by URLs.
type Target struct {
	// APIs are the base URLs of the api processes; turns go to them in turn.
	APIs []string
	// Dev is the base URL of the fakes' /dev/outbox and /dev/faults. The checker
	// needs the outbox: it is how the drill sees what reached the vendors.
	Dev string
	// NATS is the NATS URL, if the drill may read the stack's streams: escalations,
	// the bridge's lag and the send ledger's claims (to know the stack has settled).
	NATS string
	// PublicURL is the base URL Twilio webhook signatures cover (default APIs[0]).
	PublicURL string

	OpsToken, AgentToken, IngressToken string
	TwilioAccountSID, TwilioAuthToken  string
	VonageSignatureSecret              string

	// Providers are the target's provider names (GET /v1/policy), when known.
	Providers []string
}

func (t *Target) publicURL() string {
	if t.PublicURL != "" {
		return t.PublicURL
	}
	return t.APIs[0]
}

// Check reports what the drill needs of an existing stack and is missing.
func (t *Target) Check() error {
	var errs []error
	if len(t.APIs) == 0 {
		errs = append(errs, errors.New("--api: at least one api URL is required"))
	}
	if t.Dev == "" {
		errs = append(errs, errors.New("--dev: the fakes' /dev URL is required: the checker reads what reached the vendors from /dev/outbox, and vendor faults go through /dev/faults"))
	}
	if t.OpsToken == "" {
		errs = append(errs, errors.New("an ops token is required (SWITCHBOARD_OPS_TOKEN): transcripts, providers and the stuck list"))
	}
	if t.IngressToken == "" && t.OpsToken == "" {
		errs = append(errs, errors.New("an ingress or ops token is required for POST /v1/turns"))
	}
	return errors.Join(errs...)
}

// Discover asks the target's first api for its policy's provider names, so that
// Validate can refuse a fault on a provider the stack does not have.
func (t *Target) Discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(t.APIs[0], "/")+"/v1/policy", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.OpsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("target %s: %w", t.APIs[0], err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("target %s: GET /v1/policy answered %s", t.APIs[0], resp.Status)
	}
	var body struct {
		Providers []string `json:"providers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("target %s: GET /v1/policy: %w", t.APIs[0], err)
	}
	t.Providers = body.Providers
	return nil
}
