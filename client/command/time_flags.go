package command

import (
	"errors"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// timeRange returns the range that --since and --until give, each nil when
// not given: since is its start, until its end (a date takes in that whole
// day). It returns a usage error of cmd for a value that is not a time and
// for an empty range.
func timeRange(cmd *cobra.Command, since, until string) (start, end *timestamppb.Timestamp, err error) {
	if since != "" {
		t, err := parseTimeFlag(since, false)
		if err != nil {
			return nil, nil, usagef(cmd, "--since: %v", err)
		}
		start = timestamppb.New(t)
	}
	if until != "" {
		t, err := parseTimeFlag(until, true)
		if err != nil {
			return nil, nil, usagef(cmd, "--until: %v", err)
		}
		end = timestamppb.New(t)
	}
	if start != nil && end != nil && !end.AsTime().After(start.AsTime()) {
		return nil, nil, usagef(cmd, "--until must be later than --since")
	}
	return start, end, nil
}

// parseTimeFlag parses s as RFC 3339 or as a date in China Standard Time:
// the start of that day, or with endOfDay the start of the next.
func parseTimeFlag(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, chinaStandardTime)
	if err != nil {
		return time.Time{}, errors.New("not a time: write RFC 3339 (2026-03-01T09:30:00+08:00) or a date (2026-03-01)")
	}
	if endOfDay {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
