package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

func policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check a routing policy, and see whom it would try when vendors fail",
		Long: `A routing policy (see deploy/policy.example.yaml) says which providers serve each
channel and in what order, how hard each is tried, and which address each business
replies from on each vendor.`,
	}
	cmd.AddCommand(policyValidateCommand(), policySimulateCommand())
	return cmd
}

func policyValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Report every error in a routing policy, one per line, with its line and field",
		Long: `Report every error in a routing policy, one per line, with its line and field, and
exit 1. A valid policy may still get warnings (lines beginning "warning:", on
standard error): what is allowed but probably not meant, such as slow-call
counting switched off for a provider with a long attempt timeout, a chat channel
whose replies would leave as SMS, or a webhook provider's signing secret that
cannot be read here. Warnings do not change the exit status.`,
		Example: `  switchboard policy validate deploy/policy.example.yaml
  # ok: 7 providers, 3 channels`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := routing.Load(args[0])
			if err != nil {
				printPolicyErrors(cmd.ErrOrStderr(), err)
				os.Exit(1)
			}
			for _, w := range p.Warnings() {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d providers, %d channels\n", len(p.Providers), len(p.Channels))
			return nil
		},
	}
}

func printPolicyErrors(w io.Writer, err error) {
	errs := routing.Errors(err)
	if len(errs) == 0 {
		fmt.Fprintln(w, err)
		return
	}
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
}

func policySimulateCommand() *cobra.Command {
	var (
		channel, vendor, business string
		downs                     []string
	)
	cmd := &cobra.Command{
		Use:   "simulate FILE",
		Short: "Show whom a turn would be routed to, in order, and who is skipped and why",
		Long: `Plans one turn as the running service would: the NLU providers in order, then the
CPaaS providers that may deliver the reply and the address each would send from.
--down takes a provider out as an open circuit breaker would; provider/channel
takes out one channel of a vendor only (twilio/whatsapp: WhatsApp down at Meta).
Without --channel, every channel of the policy is shown.`,
		Example: `  switchboard policy simulate policy.yaml --channel sms --vendor twilio --business +15550001000 --down twilio --down cx-global
  switchboard policy simulate policy.yaml --channel whatsapp --vendor twilio --business corner-store --down twilio/whatsapp`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := routing.Load(args[0])
			if err != nil {
				printPolicyErrors(cmd.ErrOrStderr(), err)
				os.Exit(1)
			}
			in, err := simulateInput(p, channel, vendor, business, downs)
			if err != nil {
				return err
			}
			channels := p.ChannelNames()
			if channel != "" {
				channels = []string{channel}
			}
			for i, ch := range channels {
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				in.Channel = ch
				fmt.Fprint(cmd.OutOrStdout(), p.Plan(in))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&channel, "channel", "", "the conversation's channel: "+strings.Join(turn.Channels(), ", ")+" (default: every channel of the policy)")
	f.StringVar(&vendor, "vendor", turn.VendorAPI, "the vendor the conversation came in on: twilio, vonage, or api (the JSON API)")
	f.StringVar(&business, "business", "", "the business address the customer wrote to, or a business's name (default: the first business)")
	f.StringSliceVar(&downs, "down", nil, "a provider that is down, or provider/channel (repeat, or separate with commas)")
	return cmd
}

// simulateInput checks the flags against the policy, so that a typo in --down is an
// error rather than a simulation of nothing.
func simulateInput(p *routing.Policy, channel, vendor, business string, downs []string) (routing.PlanInput, error) {
	in := routing.PlanInput{Vendor: vendor}
	if channel != "" && !turn.ValidChannel(channel) {
		return in, fmt.Errorf("--channel %q: channels are %s", channel, strings.Join(turn.Channels(), ", "))
	}
	if vendor != turn.VendorTwilio && vendor != turn.VendorVonage && vendor != turn.VendorAPI {
		return in, fmt.Errorf("--vendor %q: one of twilio, vonage, api", vendor)
	}

	// --business: an address as is, or a business's name (nothing: the first
	// business), which stands for its address on the inbound vendor.
	in.Business = business
	for i := range p.Businesses {
		if b := &p.Businesses[i]; b.Name == business || (business == "" && i == 0) {
			in.Business = addressOn(p, b, vendor)
			break
		}
	}

	down := map[string]bool{}
	chDown := map[string]bool{}
	for _, d := range downs {
		d = strings.TrimSpace(d)
		name, ch, perChannel := strings.Cut(d, "/")
		if p.Provider(name) == nil {
			return in, fmt.Errorf("--down %q: provider %q is not in the policy (providers: %s)", d, name, strings.Join(p.ProviderNames(), ", "))
		}
		if !perChannel {
			down[name] = true
			continue
		}
		if p.Provider(name).Role() != routing.RoleCPaaS || !slices.Contains([]string{turn.ChannelSMS, turn.ChannelWhatsApp}, ch) {
			return in, fmt.Errorf("--down %q: provider/channel takes a CPaaS provider and sms or whatsapp", d)
		}
		chDown[name+"/"+ch] = true
	}
	in.Down = func(name string) bool { return down[name] }
	in.ChannelDown = func(name, ch string) bool { return chDown[name+"/"+ch] }
	return in, nil
}

// addressOn is b's address on a provider of the vendor's kind, else its first one.
func addressOn(p *routing.Policy, b *routing.Business, vendor string) string {
	first := ""
	for _, prov := range p.ProviderNames() {
		addr, ok := b.Addresses[prov]
		if !ok {
			continue
		}
		if p.Provider(prov).Kind == vendor {
			return addr
		}
		if first == "" {
			first = addr
		}
	}
	return first
}
