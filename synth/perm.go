package synth

import "math/bits"

// feistelRounds is the number of rounds of the permutation's Feistel
// network; four already make a pseudo-random permutation.
const feistelRounds = 6

// permutation is a keyed bijection of [0, n): a balanced Feistel network on
// the smallest even number of bits that holds n, walking the cycle past
// values at or above n (Black and Rogaway, "Ciphers with Arbitrary Finite
// Domains", 2002). It spreads consecutive indexes over the whole domain.
type permutation struct {
	n    uint64
	half uint // bits in each half of the network
	key  uint64
}

// newPermutation returns the permutation of [0, n) keyed by key; n must be
// at least 1 and below 2^62.
func newPermutation(n, key uint64) permutation {
	w := uint(bits.Len64(n - 1))
	w += w % 2
	if w == 0 {
		w = 2
	}
	return permutation{n: n, half: w / 2, key: key}
}

// at returns the image of x, which must be below p.n. Walking the cycle
// ends: x itself lies on it and is below p.n. Since 2^w < 4n, it takes
// fewer than four steps on average.
func (p permutation) at(x uint64) uint64 {
	for {
		x = p.feistel(x)
		if x < p.n {
			return x
		}
	}
}

// feistel is one pass of the network over [0, 2^(2*half)).
func (p permutation) feistel(x uint64) uint64 {
	mask := uint64(1)<<p.half - 1
	l, r := x>>p.half, x&mask
	for round := range uint64(feistelRounds) {
		l, r = r, l^(mix(p.key^(round*0x9e3779b97f4a7c15)^r)&mask)
	}
	return l<<p.half | r
}

// mix is the SplitMix64 finaliser: a fast, well-spread 64-bit hash.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
