package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Backoff of request watch between reconnections: the first wait is
// about watchFirstBackoff, and each wait without a change received in
// between doubles, up to --max-backoff.
const (
	watchFirstBackoff      = 500 * time.Millisecond
	defaultWatchMaxBackoff = 30 * time.Second
)

// requestWatchOptions are the options of the request watch command.
type requestWatchOptions struct {
	global     *globalOptions
	permitID   string
	department string
	resume     string
	maxBackoff time.Duration
}

// newRequestWatchCommand returns the request watch command.
func newRequestWatchCommand(g *globalOptions) *cobra.Command {
	o := &requestWatchOptions{global: g}
	cmd := &cobra.Command{
		Use:   "watch [--permit ID] [--department CODE] [--resume TOKEN] [--max-backoff DURATION]",
		Short: "Follow the changes of state of service requests as they happen, until Ctrl-C",
		Long: `Print every change of state of the node's service requests as it happens,
one line each (time, new state, request, service, permit, who and why), or
with -o json one JSON object per line (the node's WatchServiceRequests
response: the request as of the change, the change and its resume token).
--permit and --department keep only the changes of one permit's requests or
of one department's.

Without --resume the watch starts with the changes after it connects. Each
change carries a resume token; --resume TOKEN starts with the change after
that one, so a later run continues where an earlier one stopped without
missing a change. When the node drops the stream (a restart, a network
fault), permitctl reconnects by itself with the last token received,
waiting about half a second at first and twice as long after each attempt
that brought nothing, up to --max-backoff, and says so on standard error.
It runs until Ctrl-C or an error the node will not get over (such as
unauthenticated or permission denied); then it prints on standard error the
command that continues after the last change shown, with its --resume
token. -o json carries the token with every change, for scripts that must
survive being killed. --timeout does not apply to the stream.

The node names the point a stream starts at, so a reconnection before the
first change misses nothing either.`,
		Example: `  permitctl request watch
  permitctl request watch --department education -o json >> changes.jsonl

  # Continue after the change an earlier run showed last
  permitctl request watch --resume 1042`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of request watch on fs.
func (o *requestWatchOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.permitID, "permit", "", "only changes of the requests for the permit with this `id`")
	fs.StringVar(&o.department, "department", "", "only changes of the requests for the department with this `code`")
	fs.StringVar(&o.resume, "resume", "", "start after the change with this resume `token`, printed by an earlier run")
	fs.DurationVar(&o.maxBackoff, "max-backoff", defaultWatchMaxBackoff, "longest `wait` between two reconnections")
}

// run watches until the context ends or the node answers an error that
// reconnecting does not cure.
func (o *requestWatchOptions) run(cmd *cobra.Command, _ []string) error {
	if o.maxBackoff < watchFirstBackoff {
		return usagef(cmd, "--max-backoff must be at least %s", watchFirstBackoff)
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		return o.watch(ctx, c, scenarioPrinterOf(o.global))
	})
}

// watch streams the changes to p, reconnecting with the last resume token
// after each drop, with backoff, until ctx ends (nil) or the node answers
// an error that reconnecting does not cure (that error). Either way it
// notes how to continue.
func (o *requestWatchOptions) watch(ctx context.Context, c *client.Client, p scenarioPrinter) error {
	token := o.resume
	start := "Watching service requests from now on; Ctrl-C stops."
	if token != "" {
		start = "Watching service requests after resume token " + token + "; Ctrl-C stops."
	}
	if err := p.WatchNote(start); err != nil {
		return err
	}
	delay := watchFirstBackoff
	for {
		received, err := o.stream(ctx, c, p, &token)
		if ctx.Err() != nil {
			return p.WatchNote(o.stopNote(token))
		}
		if !reconnectable(err) {
			if noteErr := p.WatchNote(o.stopNote(token)); noteErr != nil {
				return errors.Join(err, noteErr)
			}
			return err
		}
		if received {
			delay = watchFirstBackoff
		}
		wait := max(jitter(delay), retryDelay(err))
		from := "from now (no change received yet)"
		if token != "" {
			from = "after resume token " + token
		}
		if err := p.WatchNote(fmt.Sprintf("The stream ended (%s); reconnecting in %s %s.",
			streamEnd(err), wait.Round(time.Millisecond), from)); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return p.WatchNote(o.stopNote(token))
		case <-time.After(wait):
		}
		delay = min(2*delay, o.maxBackoff)
	}
}

// stream opens one stream after *token, prints each change and keeps
// *token at the last one's resume token, until the stream ends. It reports
// whether any change arrived, and the error that ended the stream (io.EOF
// when the node closed it).
func (o *requestWatchOptions) stream(ctx context.Context, c *client.Client, p scenarioPrinter, token *string) (received bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.Scenarios.WatchServiceRequests(ctx, &epermitv1.WatchServiceRequestsRequest{
		ResumeToken: *token, PermitId: o.permitID, Department: o.department,
	})
	if err != nil {
		return false, err
	}
	if *token == "" {
		// The node names where the stream starts, so a reconnection
		// before the first change misses nothing either.
		if md, err := s.Header(); err == nil {
			if v := md.Get(resumeTokenHeader); len(v) == 1 {
				*token = v[0]
			}
		}
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return received, err
		}
		received = true
		if err := p.ServiceRequestChange(resp); err != nil {
			return received, fmt.Errorf("printing a change: %w", err)
		}
		if t := resp.GetResumeToken(); t != "" {
			*token = t
		}
	}
}

// resumeTokenHeader is the stream header in which the node names the
// resume token of the stream's start (server/scenario.ResumeTokenHeader).
const resumeTokenHeader = "x-epermit-resume-token"

// stopNote says how to continue after the last change shown.
func (o *requestWatchOptions) stopNote(token string) string {
	if token == "" {
		return "Stopped before any change arrived."
	}
	args := []string{"permitctl request watch --resume " + token}
	if o.permitID != "" {
		args = append(args, "--permit "+o.permitID)
	}
	if o.department != "" {
		args = append(args, "--department "+o.department)
	}
	return "Stopped. To continue after the last change shown: " + strings.Join(args, " ")
}

// reconnectable reports whether a stream that ended with err is worth
// opening again: the node closed it, or dropped it with a code that time
// may cure. An error not from the node, such as one writing the output, is
// not.
func reconnectable(err error) bool {
	if errors.Is(err, io.EOF) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.Aborted, codes.ResourceExhausted,
		codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// streamEnd says in words why a stream ended.
func streamEnd(err error) string {
	if errors.Is(err, io.EOF) {
		return "the node closed it"
	}
	return client.Describe(err)
}

// jitter returns a wait between half of d and d, drawn at random so that
// clients dropped together do not all come back at once.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// retryDelay returns the delay a RetryInfo detail of err asks for, or 0.
func retryDelay(err error) time.Duration {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}
