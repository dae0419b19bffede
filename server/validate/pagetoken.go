package validate

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
)

// MaxPageToken bounds the page tokens a caller may send.
const MaxPageToken = 256

// PageToken is the token of the page that follows the item after in a list
// read with filter (any text that identifies the filter), bound to that
// filter so that it is not replayed against another: the base64url of 8
// bytes of SHA-256 of the filter, then after.
func PageToken(filter, after string) string {
	return base64.RawURLEncoding.EncodeToString(append(filterHash(filter), after...))
}

// ReadPageToken returns the item a token made for filter resumes after: ""
// and true for no token, false for a token that is malformed, too long, or
// made for another filter.
func ReadPageToken(token, filter string) (string, bool) {
	if token == "" {
		return "", true
	}
	if len(token) > MaxPageToken {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	h := filterHash(filter)
	if err != nil || len(raw) <= len(h) || !bytes.Equal(raw[:len(h)], h) {
		return "", false
	}
	return string(raw[len(h):]), true
}

func filterHash(filter string) []byte {
	h := sha256.Sum256([]byte(filter))
	return h[:8]
}
