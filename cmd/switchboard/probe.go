package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func probeCommand() *cobra.Command {
	var (
		addr    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "probe [PATH]",
		Short: "Check a local api, worker or serve process: GET PATH (default /readyz), exit 0 on 200",
		Long: `probe asks the switchboard process listening on --http-addr for PATH (default /readyz,
or /healthz) and exits 0 when it answers 200, 1 otherwise with the answer. It is the health
check of the distroless image, which has no shell and no HTTP client: in a container it
reads the same SWITCHBOARD_HTTP_ADDR as the process it checks. A wildcard host (0.0.0.0,
::) is probed on loopback.`,
		Example: `  switchboard probe            # readiness
  switchboard probe /healthz   # liveness`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			path := "/readyz"
			if len(args) == 1 {
				path = args[0]
			}
			if !strings.HasPrefix(path, "/") {
				return fmt.Errorf("PATH %q must start with /", path)
			}
			url, err := probeURL(addr, path)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("probe %s: %w", url, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("probe %s: %s %s", url, resp.Status, strings.TrimSpace(string(body)))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "http-addr", "127.0.0.1:8080", "address the process listens on (its --http-addr)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}

// probeURL is the URL of path on a process listening on addr.
func probeURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
