// Package freeport picks TCP ports for servers that must be given a port number
// before they bind it: Temporal's internal services, and the child processes the
// drill starts.
//
// Asking the kernel for port 0 and closing the listener is racy in a busy test run:
// the kernel hands the same ephemeral ports to every outgoing connection and every
// other ":0" listener, so a port picked that way is often taken again before the
// server binds it. Pick therefore draws ports at random from below the kernel's
// ephemeral range, where nothing gets a port without asking for it by number, and
// checks each by binding it. Another process picking the same way can still collide,
// one chance in several thousand per port; it cannot be ruled out without holding
// the port, which the servers do not allow.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the bottom of the range Pick draws from; below it live the ports people
// configure by hand.
const lowest = 15000

// rangeFile holds the kernel's ephemeral range on Linux: "32768\t60999".
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Pick returns n distinct ports on ip that were free a moment ago and that the kernel
// does not hand out on its own.
func Pick(ip string, n int) ([]int, error) {
	top := ephemeralStart()
	ports := make([]int, 0, n)
	taken := map[int]bool{}
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100*n {
			return nil, fmt.Errorf("freeport: found %d of %d free ports on %s", len(ports), n, ip)
		}
		p, err := candidate(ip, top)
		if err != nil {
			return nil, err
		}
		if taken[p] || !free(ip, p) {
			continue
		}
		taken[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// One returns a single port as Pick does.
func One(ip string) (int, error) {
	ports, err := Pick(ip, 1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// candidate is a random port in [lowest, top), or one the kernel chooses when there
// is no room below its ephemeral range.
func candidate(ip string, top int) (int, error) {
	if top-lowest >= 1000 {
		return lowest + rand.IntN(top-lowest), nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("freeport: listening on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func free(ip string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	return l.Close() == nil
}

// ephemeralStart is the first port of the kernel's ephemeral range: 32768 when the
// range cannot be read (Linux's default, and below macOS's 49152).
func ephemeralStart() int {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 32768
	}
	lo, err := strconv.Atoi(fields[0])
	if err != nil || lo <= 0 || lo > 65535 {
		return 32768
	}
	return lo
}
