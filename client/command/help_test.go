package command

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestHelp renders --help of permitctl and of every subcommand, and checks
// that each mentions all its flags (local and global) and, but for cobra's
// own commands, has an example.
func TestHelp(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		t.Run(strings.Join(append([]string{"permitctl"}, path...), " "), func(t *testing.T) {
			r := runCLI(t, nil, append(path, "--help")...)
			if r.err != nil {
				t.Fatalf("--help: %v", r.err)
			}
			if !strings.Contains(r.stdout, "Usage:") {
				t.Fatalf("--help printed no usage:\n%s", r.stdout)
			}
			check := func(f *pflag.Flag) {
				if !strings.Contains(r.stdout, "--"+f.Name) {
					t.Errorf("help does not mention --%s:\n%s", f.Name, r.stdout)
				}
			}
			c.LocalFlags().VisitAll(check)
			c.InheritedFlags().VisitAll(check)
			if builtin := c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion"; !builtin {
				if c.Example == "" || !strings.Contains(r.stdout, "Examples:") {
					t.Errorf("%s has no example", c.CommandPath())
				}
				if c.Long == "" {
					t.Errorf("%s has no long description", c.CommandPath())
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	root := NewRoot()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(root, nil)
	for _, path := range []string{"issue", "show", "list", "endorse", "suspend", "reinstate", "cancel", "verify", "qr", "key export", "key resign",
		"pending list", "pending approve", "pending reject", "admin add", "admin list", "admin disable", "admin enable",
		"admin rotate", "whoami", "audit list", "audit verify", "scenarios", "eligibility", "request submit", "request show",
		"request list", "request watch", "request cancel", "request retry"} {
		args := strings.Fields(path)
		if c, _, err := root.Find(args); err != nil || c.Name() != args[len(args)-1] {
			t.Errorf("permitctl has no %s command", path)
		}
	}
}
