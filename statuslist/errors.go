package statuslist

import "errors"

// Errors of the list and the allocator.
var (
	// ErrIndex is returned when an index is not below the list's size.
	ErrIndex = errors.New("statuslist: index out of range")
	// ErrState is returned by Set for Unused or a code that is not a
	// defined state.
	ErrState = errors.New("statuslist: not a state that can be set")
	// ErrFull is returned by Assign when the list has reached MaxSize
	// entries and every one is taken.
	ErrFull = errors.New("statuslist: list full")
	// ErrInUse is returned by Release for an entry that holds a state.
	ErrInUse = errors.New("statuslist: entry holds a state")
)

// Errors of verification. Verify and VerifyNotModified wrap one of them,
// so callers can tell them apart with errors.Is.
var (
	// ErrFormat is returned when the data is not a well-formed status list
	// (or not-modified answer) of this format: not a tagged COSE_Sign1,
	// wrong header, payload fields missing or out of range, or entries
	// that do not decompress to the declared size.
	ErrFormat = errors.New("statuslist: malformed")
	// ErrKey is returned when the key given does not suit the data: not
	// Ed25519 or P-256, another algorithm, or another key id.
	ErrKey = errors.New("statuslist: wrong key")
	// ErrSignature is returned when the signature does not verify: the
	// data was altered or signed with another key.
	ErrSignature = errors.New("statuslist: signature does not verify")
	// ErrExpired is returned when the signed expiry has passed.
	ErrExpired = errors.New("statuslist: expired")
	// ErrNotYetValid is returned when the data was signed more than
	// MaxClockSkew after the verifier's now: a clock is wrong.
	ErrNotYetValid = errors.New("statuslist: issued in the future")
)

// Errors of the verifier's Cache.
var (
	// ErrUnknownKey is returned by Cache.Update when the key resolver
	// does not know the issuer's key id.
	ErrUnknownKey = errors.New("statuslist: issuer key not known")
	// ErrIssuer is returned by Cache.Update when the data was issued by
	// another division than the one it was fetched from.
	ErrIssuer = errors.New("statuslist: issued by another division")
	// ErrStale is returned by Cache.Update when the data was signed
	// before the list already cached: an old list replayed.
	ErrStale = errors.New("statuslist: older than the cached list")
	// ErrMismatch is returned by Cache.Update when a not-modified answer
	// is not about the cached list (none cached, or another version or
	// content). The caller fetches the full list again, with version 0.
	ErrMismatch = errors.New("statuslist: not-modified answer does not match the cached list")
)
