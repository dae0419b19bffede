package command

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// errNotConfirmed is returned when the clerk does not confirm a change that
// cannot be undone.
var errNotConfirmed = errors.New("not confirmed; nothing was sent to the node")

// canConfirm returns a usage error when cmd would have to ask for
// confirmation but standard input is not a terminal; yes says that --yes
// was given, so no question is asked.
func canConfirm(cmd *cobra.Command, yes bool) error {
	if yes || isTerminal(cmd.InOrStdin()) {
		return nil
	}
	return usagef(cmd, "standard input is not a terminal, so %s cannot ask for confirmation; pass --yes to go ahead without asking", cmd.Name())
}

// confirm writes question to prompt, followed by a request to type want,
// and reads the answer, one line, from in. It returns nil only when the
// answer is want, and errNotConfirmed otherwise.
func confirm(in io.Reader, prompt io.Writer, question, want, wantName string) error {
	if _, err := fmt.Fprintf(prompt, "%s Type the %s to confirm: ", question, wantName); err != nil {
		return err
	}
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the confirmation: %w", err)
	}
	if strings.TrimSpace(answer) != want || want == "" {
		return errNotConfirmed
	}
	return nil
}
