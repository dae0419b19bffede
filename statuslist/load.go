package statuslist

import (
	"fmt"
	"math/bits"
)

// Load replaces the list's entries with packed and its version with
// version, for a list kept elsewhere (a store shared by several
// processes) that this List publishes or assigns from. packed holds
// entries as a published list packs them (entry i in byte i/2, an even i
// in the low four bits) and may end before the list does: entries beyond
// it are Unused. The size becomes the least power of two that covers both
// the current size and packed, so a list never shrinks. Entries that
// Assign reserved and that are Unused in packed stay reserved. It returns
// ErrIndex when packed holds more than MaxSize entries, leaving the list
// as it was.
func (l *List) Load(packed []byte, version uint64) error {
	if len(packed) > MaxSize/2 {
		return fmt.Errorf("%w: %d packed bytes, more than a list of %d entries holds", ErrIndex, len(packed), MaxSize)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	size := l.size
	if n := uint32(len(packed)) * 2; n > size {
		size = ceilPow2(n)
	}
	next := make([]byte, size/2)
	copy(next, packed)
	taken := make([]uint64, size/64)
	used := 0
	for w := range taken {
		m := inUse(next, w)
		if w < len(l.taken) {
			m |= l.taken[w] &^ inUse(l.packed, w) // reserved by Assign
		}
		taken[w] = m
		used += bits.OnesCount64(m)
	}
	l.size, l.packed, l.taken, l.used, l.version = size, next, taken, uint32(used), version
	return nil
}

// inUse returns one bit for each of the 64 entries of packed from 64*w on:
// set when the entry is not Unused.
func inUse(packed []byte, w int) uint64 {
	var m uint64
	for j, b := range packed[32*w : 32*w+32] {
		if b&0x0f != 0 {
			m |= 1 << (2 * j)
		}
		if b&0xf0 != 0 {
			m |= 1 << (2*j + 1)
		}
	}
	return m
}
