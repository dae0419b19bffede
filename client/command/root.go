package command

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/client"
)

// Defaults of the global flags.
const (
	defaultServer  = "127.0.0.1:7700"
	defaultTimeout = 10 * time.Second
	serverEnv      = "PERMITCTL_SERVER"
)

const rootLong = `permitctl is the service-hall clerk's tool for the electronic residence
permit (电子居住证) register of a Yangtze River Delta member division. It talks
to the division's permitd node over gRPC: it issues permits, records the
yearly endorsement (签注), suspends, reinstates and cancels permits, shows and
lists them, verifies credentials and prints their QR codes.

Pointing it at a node:
  --server host:port, or the PERMITCTL_SERVER environment variable when the
  flag is not given; the default is 127.0.0.1:7700, a permitd on this
  machine. permitctl does not speak TLS yet, so it connects in plaintext and
  only to a loopback address (127.0.0.0/8, ::1, localhost).

Output:
  -o table (the default) prints aligned tables for people; -o json prints the
  node's response as protobuf JSON with proto field names, for scripts.
  Prompts, notes and page tokens of tables go to standard error.

Changes to a permit name the version the clerk last saw (--if-version);
without it, permitctl reads the permit first and uses its current version.
Each change carries a request id (--request-id, random by default): when a
change times out, run it again with the same request id and the node applies
it at most once.

Environment:
  PERMITCTL_SERVER  address of the permitd node, used when --server is not given

Exit status:
  0  success
  1  failure: the node refused the request or could not be reached, or the
     clerk did not confirm
  2  usage error: unknown command or flag, bad flag value, wrong arguments
  3  verify only: the verdict is NOT VALID or STATUS UNKNOWN`

// globalOptions holds the flags every command shares and the printer chosen
// from them.
type globalOptions struct {
	server  string
	output  outputFormat
	timeout time.Duration

	// printer is set before any command runs.
	printer printer
}

// addFlags defines the global flags on fs.
func (g *globalOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.server, "server", defaultServer, "`address` (host:port) of the permitd node [$"+serverEnv+"]")
	fs.VarP(&g.output, "output", "o", "output `format`: table or json")
	fs.DurationVar(&g.timeout, "timeout", defaultTimeout, "deadline of each call to the node; 0 for none")
}

// setup completes the global options once the command line is parsed: the
// server from the environment, and the printer.
func (g *globalOptions) setup(cmd *cobra.Command, _ []string) error {
	if !cmd.Flags().Changed("server") {
		if env := os.Getenv(serverEnv); env != "" {
			g.server = env
		}
	}
	if g.timeout < 0 {
		return usagef(cmd, "--timeout must not be negative")
	}
	g.printer = newPrinter(g.output, cmd.OutOrStdout(), cmd.ErrOrStderr())
	return nil
}

// withClient calls fn with a client of the node and closes it afterwards.
// An Unavailable error is prefixed with the node's address.
func (g *globalOptions) withClient(ctx context.Context, fn func(context.Context, *client.Client) error) error {
	c, err := client.Dial(g.server, client.Options{Timeout: g.timeout, Insecure: true})
	if err != nil {
		return fmt.Errorf("--server %s: %w", g.server, err)
	}
	defer c.Close()
	err = fn(ctx, c)
	if status.Code(err) == codes.Unavailable {
		return fmt.Errorf("permitd at %s: %w", g.server, err)
	}
	return err
}

// NewRoot returns the permitctl command tree. Each call builds a new tree
// with its own options, so tests may run several at once, each with its own
// SetArgs, SetIn, SetOut and SetErr.
func NewRoot() *cobra.Command {
	g := &globalOptions{output: outputTable}
	root := &cobra.Command{
		Use:   "permitctl",
		Short: "Clerk's command line for a permitd electronic residence permit node",
		Long:  rootLong,
		Example: `  # Look up a permit on the local node
  permitctl show 330604-4F7K2M9QXW3B7

  # List the suspended permits of another node, as JSON
  PERMITCTL_SERVER=127.0.0.1:7701 permitctl list --status suspended -o json`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE:          g.setup,
		SilenceUsage:               true,
		SilenceErrors:              true,
		SuggestionsMinimumDistance: 2,
	}
	g.addFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		newIssueCommand(g),
		newShowCommand(g),
		newListCommand(g),
		newEndorseCommand(g),
		newSuspendCommand(g),
		newReinstateCommand(g),
		newCancelCommand(g),
		newVerifyCommand(g),
		newQRCommand(g),
		newKeyCommand(g),
	)
	return root
}
