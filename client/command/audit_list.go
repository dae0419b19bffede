package command

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Paging of audit list.
const (
	defaultAuditLimit = 100
	maxAuditPageSize  = 1000
)

// auditListOptions are the options of the audit list command.
type auditListOptions struct {
	global   *globalOptions
	since    string
	until    string
	actor    string
	permitID string
	limit    int
	all      bool
}

// newAuditListCommand returns the audit list command.
func newAuditListCommand(g *globalOptions) *cobra.Command {
	o := &auditListOptions{global: g}
	cmd := &cobra.Command{
		Use:   "list [--since TIME] [--until TIME] [--actor NAME] [--permit ID] [--limit N | --all]",
		Short: "List audit log entries, oldest first",
		Long: `List the entries of the node's audit log in sequence order, optionally only
those in a time range, of one account or about one permit.

TIME is RFC 3339 (2026-03-01T09:30:00+08:00) or a date, YYYY-MM-DD, in China
Standard Time: --since 2026-03-01 starts at the beginning of that day, and
--until 2026-03-31 takes in the whole of that day.

permitctl prints at most --limit entries (100 by default), asking the node
for as many pages as it takes; --all prints every entry that matches. When
there are more, the table mode says so on standard error and JSON carries
next_page_token. The table leaves out the request id and the hashes; -o json
shows every field.`,
		Example: `  permitctl audit list --since 2026-03-01 --until 2026-03-31 --actor clerk.wang
  permitctl audit list --permit 330604-4F7K2M9QXW3B7 --all
  permitctl audit list --since 2026-03-01T09:00:00+08:00 --limit 20 -o json`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of audit list on fs.
func (o *auditListOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.since, "since", "", "only entries at or after this `time` (RFC 3339, or YYYY-MM-DD in China Standard Time)")
	fs.StringVar(&o.until, "until", "", "only entries before this `time`; a date YYYY-MM-DD includes that whole day")
	fs.StringVar(&o.actor, "actor", "", "only entries of the account with this `name`")
	fs.StringVar(&o.permitID, "permit", "", "only entries about the permit with this `id`")
	fs.IntVar(&o.limit, "limit", defaultAuditLimit, "print at most `N` entries")
	fs.BoolVar(&o.all, "all", false, "print every matching entry")
}

// run lists the entries and prints them.
func (o *auditListOptions) run(cmd *cobra.Command, _ []string) error {
	if o.all && cmd.Flags().Changed("limit") {
		return usagef(cmd, "give either --limit or --all, not both")
	}
	if o.limit < 1 {
		return usagef(cmd, "--limit must be at least 1")
	}
	start, end, err := timeRange(cmd, o.since, o.until)
	if err != nil {
		return err
	}
	req := &epermitv1.ListAuditEntriesRequest{Actor: o.actor, PermitId: o.permitID, StartTime: start, EndTime: end}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		list := &epermitv1.ListAuditEntriesResponse{}
		for {
			req.PageSize = maxAuditPageSize
			if !o.all {
				req.PageSize = int32(min(o.limit-len(list.Entries), maxAuditPageSize))
			}
			resp, err := c.Audit.ListAuditEntries(ctx, req)
			if err != nil {
				return err
			}
			entries := resp.GetEntries()
			if !o.all {
				entries = entries[:min(len(entries), o.limit-len(list.Entries))]
			}
			list.Entries = append(list.Entries, entries...)
			list.NextPageToken = resp.GetNextPageToken()
			if list.NextPageToken == "" || !o.all && len(list.Entries) >= o.limit {
				break
			}
			if list.NextPageToken == req.PageToken {
				return errors.New("the node returned the same page token twice; stopping")
			}
			req.PageToken = list.NextPageToken
		}
		return o.global.printer.AuditEntries(list)
	})
}
