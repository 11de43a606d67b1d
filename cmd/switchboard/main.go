// Command switchboard keeps contact-center conversations running when the vendors
// under them fail. See the README for the architecture and the operations.
//
// It holds the commands and their flags only; internal/app wires the service. Built
// with -tags slim (the production image) it leaves out dev and bench (dev.go,
// bench.go), and with them internal/devstack and the Temporal server and UI that
// only they import (slim.go answers for them).
package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchboard-cc/switchboard/internal/logging"
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
	root.AddCommand(devCommand(), serveCommand(), apiCommand(), workerCommand(), probeCommand(), setupCommand(), sendCommand(), policyCommand(), providersCommand(), conversationsCommand(), deskCommand(), replayCommand(), deadLetterCommand(), benchCommand(), infraCommand(), drillCommand(), callCommand(), voiceCommand())
	return root
}

// bindEnv fills the flags of cmd not given on the command line: from
// SWITCHBOARD_<FLAG> (upper case, dashes to underscores), else from the YAML
// config file named by --config (or SWITCHBOARD_CONFIG), on commands that have that
// flag. The command line wins over the environment, which wins over the file.
func bindEnv(cmd *cobra.Command) error {
	file, err := loadConfigFile(cmd)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	visit := func(f *pflag.Flag) {
		seen[f.Name] = true
		if err != nil {
			return
		}
		if f.Value.Type() == "stringToString" {
			err = mergeMapFlag(f, file)
			return
		}
		if f.Changed {
			return
		}
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", name, e)
			}
			return
		}
		if v, ok := file.values[f.Name]; ok {
			if e := setFlag(f, v); e != nil {
				err = fmt.Errorf("%s: %s: %w", file.path, f.Name, e)
			}
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	if err != nil {
		return err
	}
	for _, key := range slices.Sorted(maps.Keys(file.values)) {
		if !seen[key] {
			return fmt.Errorf("%s: %s is not a setting of switchboard %s (the keys are its flag names)", file.path, key, cmd.Name())
		}
	}
	return nil
}

// mergeMapFlag sets a NAME=VALUE flag (--provider-url) from all its sources, merged
// per key: the command line wins for the keys it names, then SWITCHBOARD_<FLAG>,
// then the config file. So `--provider-url twilio=...` adds to (or replaces one
// entry of) the list that infra.env's SWITCHBOARD_PROVIDER_URL holds, instead of
// replacing the whole list.
func mergeMapFlag(f *pflag.Flag, file configFile) error {
	merged := map[string]string{}
	if v, ok := file.values[f.Name]; ok {
		m, err := parseMap(f.Name, func(t *pflag.Flag) error { return setFlag(t, v) })
		if err != nil {
			return fmt.Errorf("%s: %s: %w", file.path, f.Name, err)
		}
		maps.Copy(merged, m)
	}
	name := envName(f.Name)
	if v, ok := os.LookupEnv(name); ok && v != "" {
		m, err := parseMap(f.Name, func(t *pflag.Flag) error { return t.Value.Set(v) })
		if err != nil {
			return fmt.Errorf("environment variable %s: %w", name, err)
		}
		maps.Copy(merged, m)
	}
	if given := strings.TrimSuffix(strings.TrimPrefix(f.Value.String(), "["), "]"); f.Changed && given != "" {
		m, err := parseMap(f.Name, func(t *pflag.Flag) error { return t.Value.Set(given) })
		if err != nil {
			return fmt.Errorf("--%s: %w", f.Name, err)
		}
		maps.Copy(merged, m)
	}
	if len(merged) == 0 {
		return nil
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	pairs := make([]string, 0, len(merged))
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		pairs = append(pairs, k+"="+merged[k])
	}
	if err := w.Write(pairs); err != nil {
		return err
	}
	w.Flush()
	// A changed map flag merges what it is set to into what it holds, an unchanged
	// one is replaced: either way it ends up holding merged.
	return f.Value.Set(strings.TrimSuffix(b.String(), "\n"))
}

// parseMap reads a NAME=VALUE list with set, into a map, by a scratch flag.
func parseMap(name string, set func(*pflag.Flag) error) (map[string]string, error) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	m := fs.StringToString(name, nil, "")
	if err := set(fs.Lookup(name)); err != nil {
		return nil, err
	}
	return *m, nil
}

func envName(flag string) string {
	return "SWITCHBOARD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// configFile is a parsed --config file: flag names to values.
type configFile struct {
	path   string
	values map[string]any
}

// loadConfigFile reads the file named by the command's --config flag, if it has one
// and it is set (on the command line or as SWITCHBOARD_CONFIG).
func loadConfigFile(cmd *cobra.Command) (configFile, error) {
	f := cmd.Flags().Lookup("config")
	if f == nil {
		return configFile{}, nil
	}
	path := f.Value.String()
	if v, ok := os.LookupEnv(envName("config")); ok && !f.Changed {
		path = v
	}
	if path == "" {
		return configFile{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return configFile{}, fmt.Errorf("--config: %w", err)
	}
	c := configFile{path: path}
	if err := yaml.Unmarshal(data, &c.values); err != nil {
		return configFile{}, fmt.Errorf("--config %s: %w", path, err)
	}
	return c, nil
}

// setFlag sets a flag from a YAML value: a scalar as written, a list as its items
// (repeated, for list flags), a map as NAME=VALUE pairs (for --provider-url).
func setFlag(f *pflag.Flag, v any) error {
	switch v := v.(type) {
	case nil:
		return errors.New("has no value")
	case []any:
		items := make([]string, len(v))
		for i, x := range v {
			items[i] = fmt.Sprint(x)
		}
		return f.Value.Set(strings.Join(items, ","))
	case map[string]any:
		pairs := make([]string, 0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			pairs = append(pairs, k+"="+fmt.Sprint(v[k]))
		}
		return f.Value.Set(strings.Join(pairs, ","))
	default:
		return f.Value.Set(fmt.Sprint(v))
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(logging.Mask(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
}
