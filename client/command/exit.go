package command

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses of permitctl. exitNotValid is a verdict a script must not
// accept: a credential not valid, a holder not eligible, a broken audit
// log.
const (
	exitFailure  = 1
	exitUsage    = 2
	exitNotValid = 3
)

// ExitError is an error that ends permitctl with a particular exit status.
type ExitError struct {
	// Code is the exit status.
	Code int
	// Err says what happened.
	Err error
}

// Error returns the message of the underlying error.
func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode returns the exit status for err, an error returned by the root
// command: 0 for nil, 2 for a usage error (unknown command or flag, bad flag
// value, wrong arguments), the Code of an ExitError, and 1 for anything
// else.
func ExitCode(err error) int {
	var exit *ExitError
	var usage *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &exit):
		return exit.Code
	}
	return exitFailure
}

// usageError is a command line that cannot be run as written.
type usageError struct {
	err     error
	cmdPath string
}

// Error returns the problem and where to read the command's usage.
func (e *usageError) Error() string {
	return fmt.Sprintf("%v (see '%s --help')", e.err, e.cmdPath)
}

// Unwrap returns the problem.
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error of cmd.
func usagef(cmd *cobra.Command, format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...), cmdPath: cmd.CommandPath()}
}

// flagError turns flag parsing errors into usage errors.
func flagError(cmd *cobra.Command, err error) error {
	return &usageError{err: err, cmdPath: cmd.CommandPath()}
}

// exactArgs accepts exactly the positional arguments named, such as
// "PERMIT_ID"; with no names it accepts none.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usagef(cmd, "missing %s", strings.Join(names[len(args):], " "))
		case len(args) > len(names):
			return usagef(cmd, "unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

// noSubcommand is the Args of a command that only groups subcommands: any
// argument is an unknown subcommand.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return usagef(cmd, "unknown command %q; did you mean %s?", args[0], strings.Join(s, " or "))
	}
	return usagef(cmd, "unknown command %q", args[0])
}

// requireFlags returns a usage error naming every flag of names that the
// command line does not set.
func requireFlags(cmd *cobra.Command, names ...string) error {
	var missing []string
	for _, n := range names {
		if !cmd.Flags().Changed(n) {
			missing = append(missing, "--"+n)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return usagef(cmd, "missing required flag %s", missing[0])
	}
	return usagef(cmd, "missing required flags %s", strings.Join(missing, ", "))
}
