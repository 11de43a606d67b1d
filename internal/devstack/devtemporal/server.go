package devtemporal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/internal/freeport"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

// clusterName is the name of the single local cluster.
const clusterName = "active"

// defaultStartTimeout bounds Start when its context has no deadline.
const defaultStartTimeout = 2 * time.Minute

// Server is a running development server. Stop it with Stop.
type Server struct {
	cfg          Config
	frontendAddr string
	uiURL        string

	server temporal.Server
	ui     *uiserver.Server
	uiDone chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// FrontendAddr is the host:port clients and workers dial, e.g. "127.0.0.1:7233".
func (s *Server) FrontendAddr() string { return s.frontendAddr }

// UIURL is the Web UI's base URL, e.g. "http://127.0.0.1:8233", or "" when the UI is
// disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace Start created or reconciled.
func (s *Server) Namespace() string { return s.cfg.Namespace }

// Start starts a development server and returns once its frontend answers calls, its
// namespace exists with the configured retention and search attributes, and its UI
// (unless disabled) serves. ctx bounds that wait (2 minutes when it has no deadline);
// the server itself keeps running until Stop, whatever happens to ctx later.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}

	ports, err := resolvePorts(&cfg)
	if err != nil {
		return nil, err
	}
	dialIP := cfg.IP
	if ip := net.ParseIP(cfg.IP); ip.IsUnspecified() {
		dialIP = DefaultIP
	}
	s := &Server{
		cfg:          cfg,
		frontendAddr: net.JoinHostPort(dialIP, strconv.Itoa(cfg.FrontendPort)),
	}

	sqlConf, err := sqlConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := createNamespace(sqlConf, cfg); err != nil {
		return nil, err
	}

	srv, err := newTemporalServer(cfg, ports, dialIP, s.frontendAddr, sqlConf)
	if err != nil {
		return nil, err
	}
	if err := callNoExit(srv.Start); err != nil {
		_ = callNoExit(srv.Stop)
		return nil, fmt.Errorf("devtemporal: starting the server: %w", err)
	}
	s.server = srv

	if err := reconcileNamespace(ctx, cfg, s.frontendAddr); err != nil {
		_ = s.Stop()
		return nil, err
	}

	if !cfg.DisableUI {
		if err := s.startUI(ctx, dialIP); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Stop stops the UI and the server and waits for them to finish. It is safe to call
// more than once; later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.ui != nil {
			s.ui.Stop()
			<-s.uiDone
		}
		if s.server != nil {
			s.stopErr = callNoExit(s.server.Stop)
		}
	})
	return s.stopErr
}

// servicePorts are the gRPC ports of the internal services.
type servicePorts struct{ history, matching, worker int }

// resolvePorts picks random frontend/UI ports where asked, checks that the frontend
// and UI ports are free, and picks free ports for the internal services.
func resolvePorts(cfg *Config) (servicePorts, error) {
	taken := map[int]bool{}
	pick := func() (int, error) {
		for range 20 {
			p, err := freeport.One(cfg.IP)
			if err != nil {
				return 0, err
			}
			if !taken[p] {
				taken[p] = true
				return p, nil
			}
		}
		return 0, errors.New("devtemporal: could not find distinct free ports")
	}
	var err error
	if cfg.FrontendPort == RandomPort {
		if cfg.FrontendPort, err = pick(); err != nil {
			return servicePorts{}, err
		}
	}
	taken[cfg.FrontendPort] = true
	if !cfg.DisableUI {
		if cfg.UIPort == RandomPort {
			if cfg.UIPort, err = pick(); err != nil {
				return servicePorts{}, err
			}
		}
		taken[cfg.UIPort] = true
	}

	if err := checkPortFree("frontend", cfg.IP, cfg.FrontendPort); err != nil {
		return servicePorts{}, err
	}
	if !cfg.DisableUI {
		if err := checkPortFree("UI", cfg.IP, cfg.UIPort); err != nil {
			return servicePorts{}, err
		}
	}

	var ports servicePorts
	for _, p := range []*int{&ports.history, &ports.matching, &ports.worker} {
		if *p, err = pick(); err != nil {
			return servicePorts{}, err
		}
	}
	return ports, nil
}

// newTemporalServer builds (but does not start) the Temporal server.
func newTemporalServer(cfg Config, ports servicePorts, dialIP, frontendAddr string, sqlConf *config.SQL) (temporal.Server, error) {
	service := func(port int) config.Service {
		var s config.Service
		s.RPC.GRPCPort = port
		s.RPC.BindOnIP = cfg.IP
		return s
	}
	host := func(port int) static.Hosts {
		return static.SingleLocalHost(net.JoinHostPort(dialIP, strconv.Itoa(port)))
	}

	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = dialIP
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendAddr,
				ClusterID:              cfg.ClusterID,
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): service(cfg.FrontendPort),
		string(primitives.HistoryService):  service(ports.history),
		string(primitives.MatchingService): service(ports.matching),
		string(primitives.WorkerService):   service(ports.worker),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontendAddr

	var srv temporal.Server
	err := callNoExit(func() error {
		var err error
		srv, err = temporal.NewServer(
			temporal.WithConfig(conf),
			temporal.ForServices(temporal.DefaultServices),
			temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
				primitives.FrontendService: host(cfg.FrontendPort),
				primitives.HistoryService:  host(ports.history),
				primitives.MatchingService: host(ports.matching),
				primitives.WorkerService:   host(ports.worker),
			}),
			temporal.WithLogger(newServerLogger(cfg.LogLevel, cfg.LogOutput)),
			temporal.WithDynamicConfigClient(dynamicConfigClient(cfg.DynamicConfig)),
		)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("devtemporal: building the server: %w", err)
	}
	return srv, nil
}

// callNoExit calls f, turning a Fatal from the server's logger (see noExitLogger) into
// an error.
func callNoExit(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	return f()
}

// reconcileNamespace waits for the frontend to serve cfg.Namespace, then brings its
// retention and search attributes in line with cfg.
func reconcileNamespace(ctx context.Context, cfg Config, frontendAddr string) error {
	c, err := dialUntilReady(ctx, frontendAddr, cfg.Namespace)
	if err != nil {
		return err
	}
	defer c.Close()

	desc, err := describeNamespace(ctx, c, cfg.Namespace)
	if err != nil {
		return err
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != cfg.Retention {
		_, err := c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
			Namespace: cfg.Namespace,
			Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(cfg.Retention)},
		})
		if err != nil {
			return fmt.Errorf("devtemporal: setting retention of namespace %s to %v: %w", cfg.Namespace, cfg.Retention, err)
		}
	}
	return registerSearchAttributes(ctx, c, cfg.Namespace, cfg.SearchAttributes)
}

// dialUntilReady connects an SDK client to the frontend, retrying until it answers.
func dialUntilReady(ctx context.Context, frontendAddr, namespace string) (sdkclient.Client, error) {
	opts := sdkclient.Options{
		HostPort:  frontendAddr,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	}
	for {
		c, err := sdkclient.DialContext(ctx, opts)
		if err == nil {
			return c, nil
		}
		if serr := sleepCtx(ctx, 50*time.Millisecond); serr != nil {
			return nil, fmt.Errorf("devtemporal: frontend %s not ready: %w", frontendAddr, err)
		}
	}
}

// describeNamespace retries DescribeNamespace until the namespace registry serves it.
func describeNamespace(ctx context.Context, c sdkclient.Client, namespace string) (*workflowservice.DescribeNamespaceResponse, error) {
	for {
		resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		if err == nil {
			return resp, nil
		}
		if serr := sleepCtx(ctx, 50*time.Millisecond); serr != nil {
			return nil, fmt.Errorf("devtemporal: namespace %s not available: %w", namespace, err)
		}
	}
}

// registerSearchAttributes adds the attributes of want that namespace lacks, and fails
// on one that exists with another type.
func registerSearchAttributes(ctx context.Context, c sdkclient.Client, namespace string, want map[string]enumspb.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	list := func() (*operatorservice.ListSearchAttributesResponse, error) {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err != nil {
			return nil, fmt.Errorf("devtemporal: listing search attributes of namespace %s: %w", namespace, err)
		}
		return resp, nil
	}
	resp, err := list()
	if err != nil {
		return err
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		if got, ok := resp.GetCustomAttributes()[name]; ok {
			if got != typ {
				return fmt.Errorf("devtemporal: search attribute %s exists in namespace %s with type %v, not %v (use another name, or a new database file)", name, namespace, got, typ)
			}
			continue
		}
		if _, ok := resp.GetSystemAttributes()[name]; ok {
			return fmt.Errorf("devtemporal: search attribute %s is a system search attribute", name)
		}
		missing[name] = typ
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("devtemporal: adding search attributes to namespace %s: %w", namespace, err)
	}
	// Every service caches namespaces and reloads them every namespaceRefreshInterval;
	// until then a workflow using a new attribute would be rejected.
	if err := sleepCtx(ctx, 2*namespaceRefreshInterval); err != nil {
		return fmt.Errorf("devtemporal: waiting for new search attributes: %w", err)
	}
	resp, err = list()
	if err != nil {
		return err
	}
	for name, typ := range missing {
		if got, ok := resp.GetCustomAttributes()[name]; !ok || got != typ {
			return fmt.Errorf("devtemporal: search attribute %s (%v) not registered on namespace %s after adding it", name, typ, namespace)
		}
	}
	return nil
}

// startUI starts the Web UI and waits until it serves its health endpoint.
func (s *Server) startUI(ctx context.Context, dialIP string) error {
	host := s.cfg.IP
	if net.ParseIP(host).To4() == nil {
		host = "[" + host + "]" // the UI formats its address as host:port
	}
	uiCfg := &uiconfig.Config{
		Host:                host,
		Port:                s.cfg.UIPort,
		TemporalGRPCAddress: s.frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    s.cfg.Namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true, // no internet here
	}
	var ui *uiserver.Server
	if err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("devtemporal: building the UI server: %v", r)
			}
		}()
		ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(uiCfg))
		return nil
	}(); err != nil {
		return err
	}

	s.ui = ui
	s.uiDone = make(chan struct{})
	startErr := make(chan error, 1)
	go func() {
		defer close(s.uiDone)
		if err := ui.Start(); err != nil {
			startErr <- err
		}
	}()

	s.uiURL = "http://" + net.JoinHostPort(dialIP, strconv.Itoa(s.cfg.UIPort))
	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.uiURL+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-startErr:
			return fmt.Errorf("devtemporal: UI server: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("devtemporal: UI at %s not ready: %w", s.uiURL, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
