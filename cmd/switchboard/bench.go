//go:build !slim

package main

import (
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/bench"
)

func benchCommand() *cobra.Command {
	cfg := bench.DefaultConfig()
	var phases, cpuProfile, memProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure turns/s, turn latency and memory per idle conversation on the embedded stack",
		Long: `bench starts the embedded dev stack in this process (state in a fresh temporary data
dir, random loopback ports, no UI) and measures:

  throughput  signed Twilio webhooks, closed loop: turns/s and latency from the POST to
              the reply in the fake outbox, first turns and later turns apart
  halfload    open loop at half the measured turns/s: latency percentiles
  baseline    the same turns as one Temporal workflow per turn with regular activities:
              turns/s, latency, and ours/baseline
  failover    steady load while Twilio hangs past its attempt timeout, then recovers
  hang        20 turns/s over 10 conversations while the primary NLU hangs, then
              recovers: p50/p99 per part, turns that paid over the healthy p99,
              hedges, time until the primary answers again
  memory      RSS growth per idle open conversation

It prints a report on stdout and stops by itself; Ctrl-C cancels it.`,
		Example: `  switchboard bench
  switchboard bench --turns 200 --conversations 20 --idle-conversations 500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			cfg.Phases = strings.Split(phases, ",")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return bench.Run(ctx, cfg, bench.Options{
				Out: os.Stdout, Progress: os.Stderr, CPUProfile: cpuProfile, MemProfile: memProfile,
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Turns, "turns", cfg.Turns, "turns through the real path, and through the baseline")
	f.IntVar(&cfg.Conversations, "conversations", cfg.Conversations, "conversations the turns are spread over")
	f.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "conversations (baseline: workflows) in flight")
	f.DurationVar(&cfg.HalfLoadDuration, "half-load-duration", cfg.HalfLoadDuration, "how long the half-load phase sends")
	f.IntVar(&cfg.IdleConversations, "idle-conversations", cfg.IdleConversations, "conversations opened by the memory phase")
	f.DurationVar(&cfg.TurnTimeout, "turn-timeout", cfg.TurnTimeout, "how long a turn may wait for its reply before it counts as failed")
	f.DurationVar(&cfg.FailoverPhase, "failover-phase", cfg.FailoverPhase, "failover phase: healthy and recovery parts last this long, the outage twice as long")
	f.DurationVar(&cfg.HangPhase, "hang-phase", cfg.HangPhase, "hang phase: healthy and recovered parts last this long, the primary NLU hangs twice as long")
	f.BoolVar(&cfg.InMemory, "in-memory", false, "keep NATS and Temporal state in memory instead of a temporary data dir")
	f.StringVar(&phases, "phases", strings.Join(bench.AllPhases, ","), "phases to run, comma-separated")
	f.StringVar(&cfg.LogLevel, "log-level", "warn", "log level of the stack: debug, info, warn or error")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phases to this file")
	f.StringVar(&memProfile, "memprofile", "", "write a heap profile, taken with the idle conversations open, to this file")
	return cmd
}
