// Command switchboard keeps contact-center conversations running when the vendors
// under them fail. See the README for the architecture and the operations.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

// newRootCommand builds the command tree (the tests check the deployment files
// against it).
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "switchboard",
		Short:         "Keeps contact-center conversations running when vendors fail",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(devCommand(), serveCommand(), apiCommand(), workerCommand(), probeCommand(), setupCommand(), sendCommand(), policyCommand(), providersCommand(), conversationsCommand(), replayCommand(), benchCommand())
	return root
}

// bindEnv lets every flag of cmd be set by SWITCHBOARD_<FLAG> (upper case, dashes
// to underscores). A flag given on the command line wins over the environment.
func bindEnv(cmd *cobra.Command) error {
	var err error
	visit := func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "SWITCHBOARD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", name, e)
			}
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return err
}
