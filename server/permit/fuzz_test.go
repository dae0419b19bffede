package permit

import (
	"testing"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// FuzzPageToken: a page token is outside input. Decoding never panics,
// accepts only tokens bound to the same filter, and gives back what was
// encoded.
func FuzzPageToken(f *testing.F) {
	f.Add("", "330604-0000000000001", int32(1), "")
	f.Add("340104199003077311", "330604-4F7K2M9QXW3B7", int32(2), "djF8fFBFUk1JVF9TVEFUVVNfVU5TUEVDSUZJRUR8eA")
	f.Add("", "", int32(0), "!!notbase64")
	f.Fuzz(func(t *testing.T, citizen, after string, status int32, token string) {
		req := &epermitv1.ListPermitsRequest{CitizenId: citizen, Status: epermitv1.PermitStatus(status), PageToken: token}
		if got, ok := decodePageToken(req); ok && token != "" && got == "" {
			t.Fatalf("accepted token %q with an empty position", token)
		}
		if after == "" {
			return
		}
		req.PageToken = encodePageToken(req, after)
		if len(req.PageToken) > maxPageToken {
			return
		}
		got, ok := decodePageToken(req)
		if !ok || got != after {
			t.Fatalf("round trip of %q gave %q, %v", after, got, ok)
		}
		other := &epermitv1.ListPermitsRequest{CitizenId: citizen + "0", Status: req.Status, PageToken: req.PageToken}
		if _, ok := decodePageToken(other); ok {
			t.Fatalf("token for citizen %q accepted for %q", citizen, other.CitizenId)
		}
	})
}
