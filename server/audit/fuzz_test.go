package audit

import "testing"

// FuzzPageToken: decoding an outside page token never panics, and encoded
// positions come back unchanged.
func FuzzPageToken(f *testing.F) {
	f.Add("", uint64(0))
	f.Add("AAAAAAAAAAE", uint64(1))
	f.Add("////", uint64(1<<63))
	f.Fuzz(func(t *testing.T, token string, seq uint64) {
		decodeToken(token)
		if got, ok := decodeToken(encodeToken(seq)); !ok || got != seq {
			t.Fatalf("round trip of %d gave %d, %v", seq, got, ok)
		}
	})
}
