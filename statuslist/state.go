package statuslist

import "strconv"

// State is the status of one entry of a list: what the issuer says about
// the permit that holds the entry's index. It is stored in BitsPerEntry
// bits.
//
// The codes 1 to 5 are the numbers of the same states in the
// epermit.v1.PermitStatus enum. Codes 6 to 15 are reserved; a verifier
// treats a reserved code, like Unused, as "status unknown", never as
// valid.
type State uint8

// The states. Their codes are part of the published format
// (docs/statuslist.md) and never change.
const (
	// Unused: no permit holds the index, or the permit was issued after
	// the list was published. A verifier cannot tell which, and treats
	// the permit's status as unknown.
	Unused State = 0
	// Valid: the permit is in force (ACTIVE).
	Valid State = 1
	// Suspended: the permit's use is suspended (使用功能中止), by hand; it
	// may become valid again.
	Suspended State = 2
	// Cancelled: the permit was cancelled (注销); final.
	Cancelled State = 3
	// Confiscated: the permit was confiscated (收缴); final.
	Confiscated State = 4
	// Superseded: the holder moved to another member city, which issued a
	// new permit; final.
	Superseded State = 5
)

// String returns the state's name in lower case, e.g. "cancelled", or
// "State(7)" for a reserved code.
func (s State) String() string {
	switch s {
	case Unused:
		return "unused"
	case Valid:
		return "valid"
	case Suspended:
		return "suspended"
	case Cancelled:
		return "cancelled"
	case Confiscated:
		return "confiscated"
	case Superseded:
		return "superseded"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Known reports whether s is one of the defined states, Unused included.
func (s State) Known() bool { return s <= Superseded }

// Final reports whether s is a final state: cancelled, confiscated or
// superseded.
func (s State) Final() bool { return s >= Cancelled && s <= Superseded }
