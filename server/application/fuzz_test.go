package application

import (
	"testing"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// FuzzPageToken: a page token is outside input. Reading one never panics,
// accepts only tokens of the same filter, and gives back what was written.
func FuzzPageToken(f *testing.F) {
	f.Add(int32(0), int32(0), false, "A330604-0000000000001", "")
	f.Add(int32(2), int32(3), true, "A330604-0G3K2M9QXW3B7", "Mi4zLnRydWUvQTMzMDYwNC0wRzNLMk05UVhXM0I3")
	f.Add(int32(1), int32(1), false, "", "!!notbase64")
	f.Add(int32(0), int32(0), false, "a/b", "MC4wLmZhbHNlLw")
	f.Fuzz(func(t *testing.T, state, channel int32, overdue bool, after, token string) {
		req := &epermitv1.ListApplicationsRequest{State: epermitv1.ApplicationState(state),
			Channel: epermitv1.ApplicationChannel(channel), Overdue: overdue, PageToken: token}
		if got, ok := readPageToken(req); ok && token != "" && got == "" {
			t.Fatalf("accepted token %q with an empty position", token)
		}
		if after == "" {
			return
		}
		req.PageToken = pageToken(req, after)
		if len(req.PageToken) > maxPageToken {
			return
		}
		if got, ok := readPageToken(req); !ok || got != after {
			t.Fatalf("round trip of %q gave %q, %v", after, got, ok)
		}
		other := &epermitv1.ListApplicationsRequest{State: req.State, Channel: req.Channel, Overdue: !overdue, PageToken: req.PageToken}
		if _, ok := readPageToken(other); ok {
			t.Fatalf("token of overdue=%v accepted for overdue=%v", overdue, !overdue)
		}
	})
}
