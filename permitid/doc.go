// Package permitid makes and checks permit ids: the identifier of one permit
// issuance, unique across the Yangtze River Delta and carrying the division
// that issued it.
//
// # Format
//
// A permit id is 20 characters:
//
//	330604-4F7K2M9QXW3B7
//	└────┘ └──────────┘└ check character
//	division  12 random characters
//
// The division is the issuing bureau's six-digit GB/T 2260 code. The twelve
// characters are drawn uniformly from 0-9A-Z with crypto/rand, about 62 bits,
// so ids from independent nodes collide with negligible probability; the
// store still enforces uniqueness. The check character is ISO 7064
// MOD 37,36 (the hybrid system) over the 18 characters of division and random
// part, hyphen excluded, and is itself one of 0-9A-Z.
//
// # Error detection
//
// MOD 37,36 detects every single-character substitution. It detects adjacent
// transpositions too, with one blind spot inherent to the hybrid systems of
// ISO 7064: swapping two neighbouring characters goes unnoticed when the
// running value before them, plus each character's value, gives 18 and 19
// modulo 36. That happens only for characters whose values differ by 1 (like
// 4 and 5) or are 0 and Z: at each running value, 2 of the 1,260 ordered
// pairs of distinct characters, so about 1 adjacent transposition in 630
// slips through.
//
// Parse does not check the division against the table of Delta divisions;
// that is package division's job.
package permitid
