package command

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminAddOptions are the options of the admin add command.
type adminAddOptions struct {
	global   *globalOptions
	roles    []epermitv1.Role
	division string
	kind     epermitv1.AccountKind
	note     string
}

// newAdminAddCommand returns the admin add command.
func newAdminAddCommand(g *globalOptions) *cobra.Command {
	o := &adminAddOptions{global: g, kind: epermitv1.AccountKind_ACCOUNT_KIND_PERSON}
	cmd := &cobra.Command{
		Use:   "add NAME --role ROLE [--role ROLE]... [--division CODE] [--kind person|system] [--note TEXT]",
		Short: "Add an account; prints a person's token once",
		Long: `Add an account and print it. NAME is 3-64 characters: lower-case letters,
digits, ".", "_" and "-", starting with a letter. The node refuses (already
exists) a name that is taken.

A person gets a bearer token, printed this once with the account: the node
keeps only its hash, so hand it over now, in person or over a trusted
channel. The warning goes to standard error; -o json carries the token as
"token". A system account gets no token: it authenticates over mutual TLS
with a client certificate whose subject common name is NAME, issued by the
node's client CA.

--role may be repeated, or list several roles separated by commas. The
division is by default the node's own; a partner system names its division.`,
		Example: `  permitctl admin add clerk.wang --role clerk --note "上虞区行政服务中心"
  permitctl admin add sup.li --role supervisor --role clerk
  permitctl admin add partner-320502 --role partner --kind system --division 320502
  permitctl admin add auditor.zhao --role auditor -o json`,
		Args: exactArgs("NAME"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of admin add on fs.
func (o *adminAddOptions) addFlags(fs *pflag.FlagSet) {
	fs.Var(enumListFlag[epermitv1.Role]{target: &o.roles, typ: "role"}, "role",
		"what the account may do (required, repeatable): "+strings.Join(enumWords[epermitv1.Role](), ", "))
	fs.StringVar(&o.division, "division", "", "division `code` (GB/T 2260) of the account; the node's own by default")
	fs.Var(enumFlag[epermitv1.AccountKind]{target: &o.kind, typ: "kind"}, "kind",
		"how the account authenticates: person (bearer token) or system (client certificate)")
	fs.StringVar(&o.note, "note", "", "a note for people, e.g. the service hall: `text` of up to 200 characters")
}

// run creates the account and prints it with its token.
func (o *adminAddOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "role"); err != nil {
		return err
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{
			Name: args[0], Division: o.division, Roles: o.roles, Kind: o.kind, Note: o.note,
		})
		if err != nil {
			return err
		}
		return o.global.printer.Account(accountResult{Account: resp.GetAccount(), Token: resp.GetToken(), Created: true})
	})
}
