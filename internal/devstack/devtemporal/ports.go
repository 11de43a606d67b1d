package devtemporal

import (
	"fmt"
	"net"
	"strconv"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another process
// may take it before the caller binds it; that is rare enough for tests.
func FreePort() (int, error) {
	return freePort(DefaultIP)
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("devtemporal: finding a free port on %s: %w", ip, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("devtemporal: finding a free port on %s: %w", ip, err)
	}
	return port, nil
}

// checkPortFree fails with "<what> port N is in use: ..." when ip:port cannot be bound.
// Temporal's and the UI's startup code call os.Exit on a bind error, so Start checks
// every port before handing it to them.
func checkPortFree(what, ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("devtemporal: %s port %d is in use: %w", what, port, err)
	}
	return l.Close()
}
