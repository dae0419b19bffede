// Package permitid makes and checks permit ids: the identifier of one permit
// issuance, unique across the Yangtze River Delta and carrying the division
// that issued it.
//
// # Format
//
// A permit id is 20 characters:
//
//	330604-0HCZSABF7Q2KF
//	└────┘ └──────┘└──┘└ check character
//	division  time   random
//
// The division is the issuing bureau's six-digit GB/T 2260 code. The twelve
// characters after the hyphen are all 0-9A-Z. New makes the first eight the
// issue time: the milliseconds since 2025-01-01 00:00 China Standard Time,
// in base 36, zero-padded, which lasts until 2114. The last four are drawn
// uniformly with crypto/rand. The check character is ISO 7064 MOD 37,36 (the
// hybrid system) over the 18 characters of division and body, hyphen
// excluded, and is itself one of 0-9A-Z.
//
// The time part makes ids sort by issue time, to the millisecond, so a
// store keyed by permit id appends new permits at the end of its index
// instead of scattering them over it. It says when a permit was issued,
// which the permit states anyway, but not how many permits the division
// issues. Within one millisecond the four random characters allow 1,679,616
// ids; New never repeats them within one process while the clock runs
// forward, and the store refuses an id that is taken, so its caller draws
// another. A clock set before 2025 gives the time part 00000000.
//
// Parse checks only the format and the check character: ids whose twelve
// characters are all random, as New made before the time part, are just as
// valid.
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
