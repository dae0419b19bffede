package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/client"
)

// Defaults of the global flags.
const (
	defaultServer  = "127.0.0.1:7700"
	defaultTimeout = 10 * time.Second
)

const rootLong = `permitctl is the command line of a Yangtze River Delta member division's
electronic residence permit (电子居住证) register. It talks to the division's
permitd node over gRPC. Clerks take in applications for a permit and decide
them (application), issue permits, record the yearly endorsement
(签注), suspend, show and list them, take over residents moving from
another member city (transfer), verify credentials and print their QR
codes, and submit and follow requests for the public services a permit
opens (scenarios, eligibility, request); supervisors reinstate permits,
decide cancellations, two of them for each, and import the division's
existing residents from a CSV file (import); admins manage accounts
and, after an issuer key was compromised, re-sign every permit with the
new key (key resign); auditors read and verify the audit log.

Pointing it at a node:
  --server host:port names the node; the default is 127.0.0.1:7700, a permitd
  on this machine.

  With --ca FILE, permitctl speaks TLS and trusts only the CA certificates in
  FILE. Without --ca it speaks plaintext to a loopback address (127.0.0.0/8,
  ::1, localhost) and TLS trusting the system's certificate authorities to
  any other address. System accounts (partner nodes) authenticate with a
  client certificate over mutual TLS: --cert FILE and --key FILE, which
  always use TLS.

  People authenticate with a bearer token. --token-file FILE reads it from a
  file; when a node first starts, it writes its admin token to
  <data>/admin.token. --token TOKEN takes it on the command line, where other
  users of the machine may see it. The token goes only over TLS or to a
  loopback address, and permitctl never prints it back. The node answers
  unauthenticated to missing or wrong credentials, and permission denied to
  a role or division that may not make the call ('permitctl whoami' shows
  yours).

  --purpose TEXT says why you read personal data. It goes with every call
  (x-epermit-purpose, percent-encoded beyond ASCII) and into the node's
  audit log; partners must state one. At most 200 characters.

  Every setting may also come from the environment or a config file: a flag
  beats the environment, which beats the config file, which beats the
  default. The config file is --config FILE, or $PERMITCTL_CONFIG, or else
  epermit/permitctl.yaml in the user's config directory
  (~/.config/epermit/permitctl.yaml on Linux) when it exists; --config ""
  reads none. It is YAML with the keys server, token, token_file, ca, cert,
  key and purpose, for example:

    server: permitd.330604.example:7700
    ca: ca.pem
    token_file: clerk.token

  File names in it are relative to its folder. permitctl refuses a config
  file that holds a token unless only its owner may read it (chmod 600).

Output:
  -o table (the default) prints aligned tables for people; -o json prints the
  node's response as protobuf JSON with proto field names, for scripts.
  Prompts, notes and page tokens of tables go to standard error.

Changes to a permit name the version the clerk last saw (--if-version);
without it, permitctl reads the permit first and uses its current version.
Each change carries a request id (--request-id; by default a new one, which
begins with the time so that ids sort in the order they were made): when a
change times out, run it again with the same request id and the node applies
it at most once. The node limits how fast an account makes changes, and how
many changes name one citizen; beyond a limit it answers resource
exhausted, and the error says which limit and when to retry.

Environment:
  PERMITCTL_SERVER      address of the permitd node, for --server
  PERMITCTL_TOKEN       bearer token, for --token
  PERMITCTL_TOKEN_FILE  file holding the bearer token, for --token-file
  PERMITCTL_CA          CA certificates file, for --ca
  PERMITCTL_CERT        client certificate file, for --cert
  PERMITCTL_KEY         client key file, for --key
  PERMITCTL_PURPOSE     purpose of reading personal data, for --purpose
  PERMITCTL_CONFIG      config file, for --config

Exit status:
  0  success
  1  failure: the node refused the request or could not be reached, a file
     could not be read, or the clerk did not confirm
  2  usage error: unknown command or flag, bad flag value, wrong arguments
  3  verify: the verdict is NOT VALID or STATUS UNKNOWN;
     eligibility: NOT ELIGIBLE;
     audit verify: the audit log is broken;
     import: rows were refused (the error file lists them)`

// globalOptions holds the flags every command shares and what is worked out
// from them.
type globalOptions struct {
	flags   connFlags
	output  outputFormat
	timeout time.Duration

	// Set before any command runs: the connection settings, the printer
	// and the command being run.
	conn    connSettings
	printer printer
	cmd     *cobra.Command
}

// addFlags defines the global flags on fs.
func (g *globalOptions) addFlags(fs *pflag.FlagSet) {
	g.flags.addFlags(fs)
	fs.VarP(&g.output, "output", "o", "output `format`: table or json")
	fs.DurationVar(&g.timeout, "timeout", defaultTimeout, "deadline of each call to the node; 0 for none")
}

// setup completes the global options once the command line is parsed: the
// connection settings and the printer.
func (g *globalOptions) setup(cmd *cobra.Command, _ []string) error {
	if g.timeout < 0 {
		return usagef(cmd, "--timeout must not be negative")
	}
	conn, err := g.flags.resolve(cmd)
	if err != nil {
		return err
	}
	g.conn, g.cmd = conn, cmd
	g.printer = newPrinter(g.output, cmd.OutOrStdout(), cmd.ErrOrStderr())
	return nil
}

// clientOptions returns the options to dial the node with, reading the
// token file if one is named.
func (g *globalOptions) clientOptions() (client.Options, error) {
	s := g.conn
	if (s.cert == "") != (s.key == "") {
		return client.Options{}, usagef(g.cmd.Root(), "a client certificate needs both --cert and --key (or %s and %s)", certEnv, keyEnv)
	}
	opts := client.Options{
		Timeout:  g.timeout,
		CAFile:   s.ca,
		CertFile: s.cert,
		KeyFile:  s.key,
		Insecure: true,
		Token:    s.token,
		Purpose:  s.purpose,
	}
	if s.tokenFile != "" {
		token, err := readTokenFile(s.tokenFile)
		if err != nil {
			return client.Options{}, err
		}
		opts.Token = token
	}
	return opts, nil
}

// withClient calls fn with a client of the node and closes it afterwards.
// Errors get a hint at what to do: see explain.
func (g *globalOptions) withClient(ctx context.Context, fn func(context.Context, *client.Client) error) error {
	opts, err := g.clientOptions()
	if err != nil {
		return err
	}
	c, err := client.Dial(g.conn.server, opts)
	switch {
	case errors.Is(err, client.ErrBadToken):
		return fmt.Errorf("the token from %s: %w", g.conn.tokenFrom, err)
	case errors.Is(err, client.ErrBadPurpose):
		return usagef(g.cmd.Root(), "--purpose: %w", err)
	case err != nil:
		return fmt.Errorf("--server %s: %w", g.conn.server, err)
	}
	defer c.Close()
	return g.explain(fn(ctx, c))
}

// explain adds to an error of the node a hint at what to do about it.
func (g *globalOptions) explain(err error) error {
	switch status.Code(err) {
	case codes.OK:
		return err
	case codes.Unavailable:
		opts := client.Options{Insecure: true, CAFile: g.conn.ca, CertFile: g.conn.cert, KeyFile: g.conn.key}
		if client.Plaintext(g.conn.server, opts) && !strings.Contains(err.Error(), "connection refused") {
			return fmt.Errorf("permitd at %s: %w (permitctl spoke plaintext, as the node is on this machine and no --ca was given; "+
				"if the node serves TLS, pass --ca FILE)", g.conn.server, err)
		}
		return fmt.Errorf("permitd at %s: %w", g.conn.server, err)
	case codes.Unauthenticated:
		if g.conn.tokenFrom == "" && g.conn.cert == "" {
			return fmt.Errorf("%w (no credentials were sent: pass your token with --token-file FILE or --token TOKEN, "+
				"or set %s or %s; system accounts use --cert and --key)", err, tokenFileEnv, tokenEnv)
		}
		if g.conn.tokenFrom != "" {
			return fmt.Errorf("%w (the node did not accept the token from %s; check --token or --token-file: "+
				"a rotated token replaces the old one, and a disabled account has none that works)", err, g.conn.tokenFrom)
		}
		return fmt.Errorf("%w (the node did not accept the client certificate; people pass a token with --token-file or --token)", err)
	case codes.PermissionDenied:
		return fmt.Errorf("%w ('permitctl whoami' shows your account's roles and division)", err)
	case codes.InvalidArgument:
		if g.conn.purpose == "" && strings.Contains(strings.ToLower(client.Describe(err)), "purpose") {
			return fmt.Errorf("%w (state why you read the data with --purpose TEXT or %s)", err, purposeEnv)
		}
	case codes.ResourceExhausted:
		if !hasRetryInfo(err) {
			return fmt.Errorf("%w (the node is limiting requests; try again later)", err)
		}
	}
	return err
}

// hasRetryInfo reports whether err carries a RetryInfo detail, which
// client.Describe renders as "retry after DELAY".
func hasRetryInfo(err error) bool {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return true
		}
	}
	return false
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
		Example: `  # Look up a permit on the local node, with the token of your account
  permitctl --token-file ~/.epermit/clerk.token show 330604-4F7K2M9QXW3B7

  # The first admin of a fresh node, on the node's machine
  permitctl --token-file /var/lib/permitd/admin.token whoami

  # List the suspended permits of another node over TLS, as JSON
  PERMITCTL_TOKEN_FILE=clerk.token permitctl --server permitd.330604.example:7700 --ca ca.pem \
    list --status suspended -o json

  # A partner system, with its client certificate and a stated purpose
  permitctl --server permitd.330604.example:7700 --ca ca.pem --cert partner.pem --key partner.key \
    --purpose "residence check for school enrolment" show 330604-4F7K2M9QXW3B7`,
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
		newApplicationCommand(g),
		newShowCommand(g),
		newListCommand(g),
		newEndorseCommand(g),
		newSuspendCommand(g),
		newReinstateCommand(g),
		newCancelCommand(g),
		newTransferCommand(g),
		newVerifyCommand(g),
		newQRCommand(g),
		newKeyCommand(g),
		newPendingCommand(g),
		newAdminCommand(g),
		newWhoAmICommand(g),
		newAuditCommand(g),
		newTrustCommand(g),
		newScenariosCommand(g),
		newEligibilityCommand(g),
		newRequestCommand(g),
		newImportCommand(g),
	)
	return root
}
