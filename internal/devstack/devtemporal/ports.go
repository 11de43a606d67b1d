package devtemporal

import (
	"fmt"
	"net"
	"strconv"

	"github.com/switchboard-cc/switchboard/internal/freeport"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, drawn from
// outside the kernel's ephemeral range (see package freeport).
func FreePort() (int, error) {
	return freeport.One(DefaultIP)
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
