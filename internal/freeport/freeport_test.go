package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPick_DistinctBindablePortsBelowTheEphemeralRange(t *testing.T) {
	top := ephemeralStart()
	ports, err := Pick("127.0.0.1", 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 20 {
		t.Fatalf("got %d ports, want 20", len(ports))
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice in %v", p, ports)
		}
		seen[p] = true
		if top-lowest >= 1000 && (p < lowest || p >= top) {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, top)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		l.Close()
	}
}

func TestFree_AHeldPortIsNotFree(t *testing.T) {
	p, err := One("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !free("127.0.0.1", p) {
		t.Fatalf("port %d was just picked but is not free", p)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if free("127.0.0.1", p) {
		t.Fatalf("port %d is held but free reports it free", p)
	}
}
