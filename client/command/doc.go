// Package command implements permitctl, the service-hall clerk's command
// line for a permitd node, as a cobra command tree.
//
// # Structure
//
// NewRoot builds the tree; each subcommand lives in its own file with an
// options struct, an addFlags method and a run method used as RunE. Commands
// never format output themselves: they hand responses to the printer chosen
// once from --output (printer_table.go, printer_json.go), which writes to
// cmd.OutOrStdout() and cmd.ErrOrStderr().
//
// # Testing
//
// Every call of NewRoot builds a fresh tree with no shared state, so a test
// can run the whole CLI against a node:
//
//	root := command.NewRoot()
//	root.SetArgs([]string{"--server", addr, "show", id})
//	root.SetIn(stdin)
//	root.SetOut(&stdout)
//	root.SetErr(&stderr)
//	err := root.ExecuteContext(ctx)
//	status := command.ExitCode(err)
//
// # Exit status
//
// ExitCode maps the error the root returns to the process exit status: 0
// success, 1 failure, 2 usage error, 3 a verification whose verdict is not
// VALID, an eligibility check whose answer is NOT ELIGIBLE or an audit log
// whose chain is broken.
//
// # Connection settings
//
// The global flags --server, --token, --token-file, --ca, --cert, --key
// and --purpose each fall back to an environment variable (PERMITCTL_SERVER
// and so on), then to a YAML config file (--config, PERMITCTL_CONFIG, or
// epermit/permitctl.yaml in the user config directory), then to a default;
// config.go works this out once per run, and withClient dials with it. The
// token is never printed back.
package command
