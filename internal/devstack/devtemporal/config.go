package devtemporal

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
)

// Defaults applied by Start to zero-valued Config fields.
const (
	DefaultIP           = "127.0.0.1"
	DefaultFrontendPort = 7233
	DefaultUIPort       = 8233
	DefaultNamespace    = "default"
	// DefaultRetention is how long closed workflows are kept. A week is long enough to
	// look back at yesterday's conversations in the UI and short enough that a dev
	// database does not grow without bound.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultLogLevel is "error": at "warn" every start logs that the HTTP API port is
	// not set and every stop logs dozens of dial errors and failed polls from the
	// server's internal workers as the services go down one by one.
	DefaultLogLevel = "error"
)

// RandomPort asks Start to pick a free port (for FrontendPort or UIPort).
const RandomPort = -1

// minRetention is the server's minimum retention for a local namespace
// (dynamic config system.namespaceMinRetentionLocal).
const minRetention = time.Hour

// Config describes a development server. The zero value is valid: an in-memory server
// on 127.0.0.1:7233 with the UI on 127.0.0.1:8233 and namespace "default".
type Config struct {
	// IP the frontend and UI listen on. Default 127.0.0.1. The internal services
	// (history, matching, worker) listen on it too, on ports picked at random.
	IP string

	// FrontendPort is the gRPC port clients and workers dial. 0 means 7233;
	// RandomPort (-1) picks a free port.
	FrontendPort int

	// UIPort is the Web UI's HTTP port. 0 means 8233; RandomPort (-1) picks a free
	// port. Ignored when DisableUI is set.
	UIPort int

	// DisableUI turns the Web UI off (tests rarely need it).
	DisableUI bool

	// DBFile is the SQLite database file. It is created, with its schema, when it does
	// not exist (its directory must), and reused as is when it does. Empty means a
	// private in-memory database that is lost on Stop (for tests).
	DBFile string

	// Namespace to create (if missing) and to point the UI at. Default "default".
	Namespace string

	// Retention of closed workflows in Namespace. Default 7 days; at least 1 hour. An
	// existing namespace whose retention differs is updated.
	Retention time.Duration

	// SearchAttributes are custom search attributes to register on Namespace (name to
	// type). Registration is idempotent; an attribute that already exists with a
	// different type makes Start fail.
	SearchAttributes map[string]enumspb.IndexedValueType

	// LogLevel of the server's logger: "debug", "info", "warn" or "error". Default
	// "error" (see DefaultLogLevel).
	LogLevel string

	// LogOutput receives the server's log lines (JSON, one per line). Default os.Stderr.
	LogOutput io.Writer

	// ClusterID is the cluster's id, a UUID (the server warns about anything else).
	// Empty means a fresh random UUID. It only matters when a database is first
	// initialized; an existing database keeps the id it was created with.
	ClusterID string

	// DynamicConfig overrides, by key (e.g. "history.transferProcessorMaxPollRPS"),
	// applied on top of DefaultDynamicConfig.
	DynamicConfig map[string]any
}

var logLevels = []string{"debug", "info", "warn", "error"}

// Validate reports the first invalid field, by name. Zero values are valid (they take
// the defaults documented on each field).
func (c Config) Validate() error {
	if c.IP != "" && net.ParseIP(c.IP) == nil {
		return fmt.Errorf("devtemporal: Config.IP %q is not an IP address", c.IP)
	}
	if err := validPort("FrontendPort", c.FrontendPort); err != nil {
		return err
	}
	if !c.DisableUI {
		if err := validPort("UIPort", c.UIPort); err != nil {
			return err
		}
		if c.UIPort > 0 && c.UIPort == c.FrontendPort {
			return fmt.Errorf("devtemporal: Config.UIPort %d is the same as Config.FrontendPort", c.UIPort)
		}
		if (c.UIPort == 0 && c.FrontendPort == DefaultUIPort) || (c.FrontendPort == 0 && c.UIPort == DefaultFrontendPort) {
			return errors.New("devtemporal: Config.UIPort and Config.FrontendPort resolve to the same port")
		}
	}
	if c.Namespace != "" {
		if c.Namespace == "temporal-system" {
			return errors.New("devtemporal: Config.Namespace must not be the system namespace temporal-system")
		}
		if strings.TrimSpace(c.Namespace) != c.Namespace || strings.ContainsAny(c.Namespace, " \t\n/") {
			return fmt.Errorf("devtemporal: Config.Namespace %q must not contain spaces or slashes", c.Namespace)
		}
	}
	if c.Retention != 0 && c.Retention < minRetention {
		return fmt.Errorf("devtemporal: Config.Retention %v is below the server's minimum of %v", c.Retention, minRetention)
	}
	for name, typ := range c.SearchAttributes {
		if name == "" || strings.TrimSpace(name) != name {
			return fmt.Errorf("devtemporal: Config.SearchAttributes has an invalid name %q", name)
		}
		if typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED || enumspb.IndexedValueType_name[int32(typ)] == "" {
			return fmt.Errorf("devtemporal: Config.SearchAttributes[%q] has invalid type %v", name, typ)
		}
	}
	if c.LogLevel != "" && !slices.Contains(logLevels, c.LogLevel) {
		return fmt.Errorf("devtemporal: Config.LogLevel %q is not one of %s", c.LogLevel, strings.Join(logLevels, ", "))
	}
	if c.ClusterID != "" {
		if err := uuid.Validate(c.ClusterID); err != nil {
			return fmt.Errorf("devtemporal: Config.ClusterID %q is not a UUID", c.ClusterID)
		}
	}
	for k := range c.DynamicConfig {
		if k == "" {
			return errors.New("devtemporal: Config.DynamicConfig has an empty key")
		}
	}
	return nil
}

func validPort(field string, port int) error {
	if port < RandomPort || port > 65535 {
		return fmt.Errorf("devtemporal: Config.%s %d is out of range (0 = default, -1 = random, else 1-65535)", field, port)
	}
	return nil
}

// withDefaults returns c with defaults filled in, except the ports (see resolvePorts).
func (c Config) withDefaults() Config {
	if c.IP == "" {
		c.IP = DefaultIP
	}
	if c.FrontendPort == 0 {
		c.FrontendPort = DefaultFrontendPort
	}
	if c.UIPort == 0 {
		c.UIPort = DefaultUIPort
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.ClusterID == "" {
		c.ClusterID = uuid.NewString()
	}
	return c
}
