package devnats

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults applied by Start to zero-valued Config fields.
const (
	DefaultHost         = "127.0.0.1"
	DefaultPort         = 4222
	DefaultReadyTimeout = 10 * time.Second
)

// RandomPort asks Start to let the server pick a free port.
const RandomPort = -1

// Config describes an embedded NATS server. The zero value is valid: 127.0.0.1:4222
// with JetStream in a temporary directory.
type Config struct {
	// Host the server listens on. Default 127.0.0.1.
	Host string

	// Port for client connections. 0 means 4222; RandomPort (-1) picks a free port
	// (see Server.ClientURL).
	Port int

	// StoreDir is where JetStream keeps its files. It is created if missing. Empty
	// means a new temporary directory, removed by Stop.
	StoreDir string

	// MaxMemory and MaxStore cap JetStream's memory and file storage, in bytes. 0 keeps
	// the server's defaults (a share of the machine's memory and disk).
	MaxMemory int64
	MaxStore  int64

	// Logger receives the server's log lines (notices at Info, warnings, errors; no
	// debug or trace). Nil means silent.
	Logger *slog.Logger

	// ReadyTimeout bounds the wait for the server to accept connections. Default 10 s.
	ReadyTimeout time.Duration
}

// Validate reports the first invalid field, by name. Zero values are valid.
func (c Config) Validate() error {
	if c.Host != "" && net.ParseIP(c.Host) == nil {
		return fmt.Errorf("devnats: Config.Host %q is not an IP address", c.Host)
	}
	if c.Port < RandomPort || c.Port > 65535 {
		return fmt.Errorf("devnats: Config.Port %d is out of range (0 = 4222, -1 = random, else 1-65535)", c.Port)
	}
	if c.MaxMemory < 0 {
		return fmt.Errorf("devnats: Config.MaxMemory %d is negative", c.MaxMemory)
	}
	if c.MaxStore < 0 {
		return fmt.Errorf("devnats: Config.MaxStore %d is negative", c.MaxStore)
	}
	if c.ReadyTimeout < 0 {
		return fmt.Errorf("devnats: Config.ReadyTimeout %v is negative", c.ReadyTimeout)
	}
	return nil
}

// Server is a running embedded NATS server.
type Server struct {
	ns       *server.Server
	storeDir string
	tempDir  bool
	logger   *slog.Logger
	stopOnce sync.Once
}

// Start starts the server and returns once it accepts client connections with
// JetStream enabled.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	if cfg.Port != RandomPort {
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
		if err != nil {
			return nil, fmt.Errorf("devnats: port %d is in use: %w", cfg.Port, err)
		}
		if err := l.Close(); err != nil {
			return nil, fmt.Errorf("devnats: checking port %d: %w", cfg.Port, err)
		}
	}

	s := &Server{storeDir: cfg.StoreDir, logger: logger}
	if s.storeDir == "" {
		dir, err := os.MkdirTemp("", "devnats-*")
		if err != nil {
			return nil, fmt.Errorf("devnats: creating a temporary store directory: %w", err)
		}
		s.storeDir, s.tempDir = dir, true
	} else if err := os.MkdirAll(s.storeDir, 0o755); err != nil {
		return nil, fmt.Errorf("devnats: Config.StoreDir: %w", err)
	}

	ns, err := server.NewServer(&server.Options{
		Host:               cfg.Host,
		Port:               cfg.Port,
		NoLog:              true, // logging goes through our adapter only
		NoSigs:             true, // never touch the embedding process's signals
		JetStream:          true,
		StoreDir:           s.storeDir,
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
	})
	if err != nil {
		s.removeTempDir()
		return nil, fmt.Errorf("devnats: configuring the server: %w", err)
	}
	log := &logAdapter{l: logger}
	// The adapter records Fatalf instead of exiting, so a failure reaches the caller.
	ns.SetLoggerV2(log, false, false, false)
	s.ns = ns

	ns.Start()
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if msg := log.fatal(); msg != "" {
		return fail(fmt.Errorf("devnats: starting the server: %s", msg))
	}
	deadline := time.Now().Add(cfg.ReadyTimeout)
	for !ns.ReadyForConnections(100 * time.Millisecond) {
		if msg := log.fatal(); msg != "" {
			return fail(fmt.Errorf("devnats: starting the server: %s", msg))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("devnats: server on %s:%d not ready after %v", cfg.Host, cfg.Port, cfg.ReadyTimeout))
		}
	}
	if !ns.JetStreamEnabled() {
		return fail(errors.New("devnats: JetStream is not enabled"))
	}
	return s, nil
}

// ClientURL is the URL clients connect to, e.g. "nats://127.0.0.1:4222".
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Port is the port the server listens on (the chosen one when Config.Port was random).
func (s *Server) Port() int { return s.ns.Addr().(*net.TCPAddr).Port }

// StoreDir is the JetStream storage directory in use.
func (s *Server) StoreDir() string { return s.storeDir }

// Stop shuts the server down, waits until it has, and removes the store directory if
// Start created it. It is safe to call more than once (e.g. from t.Cleanup and defer).
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.ns != nil {
			s.ns.Shutdown()
			s.ns.WaitForShutdown()
		}
		s.removeTempDir()
	})
}

func (s *Server) removeTempDir() {
	if !s.tempDir {
		return
	}
	if err := os.RemoveAll(s.storeDir); err != nil {
		s.logger.Warn("devnats: removing the temporary store directory", "dir", s.storeDir, "error", err)
	}
}

// logAdapter is a server.Logger writing to slog. Fatalf logs an error and records the
// message instead of exiting the process.
type logAdapter struct {
	l        *slog.Logger
	mu       sync.Mutex
	fatalMsg string
}

func (a *logAdapter) fatal() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fatalMsg
}

func (a *logAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }

func (a *logAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.l.Error(msg)
	a.mu.Lock()
	if a.fatalMsg == "" {
		a.fatalMsg = msg
	}
	a.mu.Unlock()
}
