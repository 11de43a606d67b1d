//go:build slim

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// The slim build (`go build -tags slim ./cmd/switchboard`, as deploy/Dockerfile
// builds it) is the production binary: the roles (serve, api, worker) and the
// operator commands, without the embedded dev stack (internal/devstack: NATS, the
// Temporal server and UI, the fake vendors), which only dev, bench and infra (the
// parts of a drill's own topology) run. They stay
// in the command tree and say why they do nothing.

func devCommand() *cobra.Command { return leftOut("dev", "Run everything in one process") }

func callCommand() *cobra.Command {
	return leftOut("call", "Call a Twilio number's Voice URL as a fake caller")
}

func benchCommand() *cobra.Command {
	return leftOut("bench", "Measure the service on the embedded stack")
}

// infraCommand is hidden in the full build too: it runs a part of the dev stack for
// switchboard drill's own topology, which therefore needs the full build (a drill
// against an existing stack, --api, does not).
func infraCommand() *cobra.Command {
	c := leftOut("infra", "Run one part of the dev stack alone")
	c.Hidden = true
	return c
}

// leftOut is a command of the full build that this build does not have.
func leftOut(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short + " (not in this slim build)",
		// Any flags of the full command are accepted, so that the answer is this
		// one and not "unknown flag".
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("%s is not in this build: this switchboard was built with -tags slim, the production build, "+
				"which leaves out the embedded dev stack (NATS, the Temporal server and UI, the fake vendors) that dev, bench and a drill's own topology run; "+
				"build without the tag for them: go build ./cmd/switchboard", use)
		},
	}
}
