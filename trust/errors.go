package trust

import "errors"

// Errors of Verify and Holder.Load. Each is wrapped with a detail saying
// what exactly is wrong; test with errors.Is.
var (
	// ErrMalformed is returned when the data is not a signed trust list at
	// all: longer than MaxSize, not a tagged COSE_Sign1, unsigned, signed
	// with another algorithm than EdDSA, without a kid, or with a payload
	// that is not a trust list.
	ErrMalformed = errors.New("trust: not a signed trust list")
	// ErrRegistryKey is returned when the list names another signing key
	// (kid) than the registry key the node trusts.
	ErrRegistryKey = errors.New("trust: not signed by the registry key")
	// ErrSignature is returned when the signature does not verify with the
	// registry key: the list was altered after signing.
	ErrSignature = errors.New("trust: the signature does not verify")
	// ErrVersion is returned for a list of a format version other than
	// FormatVersion.
	ErrVersion = errors.New("trust: unsupported format version")
	// ErrExpired is returned for a list at or past its expires_at.
	ErrExpired = errors.New("trust: the trust list has expired")
	// ErrInvalid is returned when the signed content breaks a rule of the
	// format: a field missing or malformed, a duplicate division or kid.
	ErrInvalid = errors.New("trust: invalid trust list")
	// ErrStale is returned by Holder.Load for a list whose sequence is not
	// greater than the current list's (unless it is the current list,
	// byte for byte).
	ErrStale = errors.New("trust: not newer than the current trust list")
)

// Errors of List.Key.
var (
	// ErrUnknownMember is returned when the division is not a member.
	ErrUnknownMember = errors.New("trust: unknown member")
	// ErrUnknownKey is returned when the member has no key of that kid.
	ErrUnknownKey = errors.New("trust: unknown issuer key")
	// ErrKeyNotValid is returned when the time is outside the key's
	// window.
	ErrKeyNotValid = errors.New("trust: issuer key not valid at that time")
)
