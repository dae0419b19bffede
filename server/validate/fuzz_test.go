package validate

import "testing"

// FuzzPageToken: a page token is outside input. Reading one never panics,
// accepts only tokens of the same filter, and gives back what was written.
func FuzzPageToken(f *testing.F) {
	f.Add("v1\x00\x000", "330604-0000000000001", "")
	f.Add("2.3.true", "A330604-0G3K2M9QXW3B7", "Mi4zLnRydWUvQTMzMDYwNC0wRzNLMk05UVhXM0I3")
	f.Add("", "", "!!notbase64")
	f.Add("permit=x", "a/b", "MC4wLmZhbHNlLw")
	f.Fuzz(func(t *testing.T, filter, after, token string) {
		if got, ok := ReadPageToken(token, filter); ok && token != "" && got == "" {
			t.Fatalf("accepted token %q with an empty position", token)
		}
		if after == "" {
			return
		}
		token = PageToken(filter, after)
		if len(token) > MaxPageToken {
			return
		}
		if got, ok := ReadPageToken(token, filter); !ok || got != after {
			t.Fatalf("round trip of %q gave %q, %v", after, got, ok)
		}
		if _, ok := ReadPageToken(token, filter+"x"); ok {
			t.Fatalf("token of filter %q accepted for %q", filter, filter+"x")
		}
	})
}
