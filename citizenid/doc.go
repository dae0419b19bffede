// Package citizenid parses and validates the 18-character citizen id number
// (公民身份号码) defined by GB 11643-1999, and generates synthetic ones for
// tests.
//
// # Layout
//
// Positions are counted from 1, as in the standard:
//
//	1-6    address code: the county-level GB/T 2260 code of the hukou when
//	       the number was assigned (it never changes, so retired codes occur)
//	7-14   date of birth, YYYYMMDD
//	15-17  sequence code; an odd 17th digit means male, even means female
//	18     check character, ISO 7064 MOD 11-2: 0-9 or X (meaning 10)
//
// # Validation
//
// [Parse] checks, in order: empty input, length, character set, the
// two-digit province prefix (any mainland province-level code, because a
// permit holder is by definition a migrant from anywhere), the birth date and
// the check character. It does not check the full six-digit address code
// against any list: holders keep codes that have since been retired.
//
// Birth dates before 1900-01-01 are rejected. GB 11643 itself allows them
// (the published example 440524188001010014 is born in 1880), but nobody
// applying for a residence permit today was born before 1900, so such a
// number is far more likely a typing error than a real holder.
//
// Failures are reported as *[Error] values whose Reason is one of the
// UPPER_SNAKE_CASE Reason constants, suitable as google.rpc.BadRequest
// field-violation reasons.
//
// # Legacy numbers
//
// [Upgrade15] turns a 15-digit GB 11643-1989 number into its 18-character
// form by inserting "19" before the two-digit year and appending the check
// character.
//
// # Synthetic numbers
//
// [Generator] makes valid-looking, non-repeating numbers from a seed for
// tests, demos and benchmarks. They are random and may coincide with a real
// person's number by chance, so they belong in test data only.
package citizenid
