package statuslist

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"
)

// Sizes of a list, in entries.
const (
	// BitsPerEntry is the width of one entry. Four bits keep every entry
	// inside one byte (two per byte), leave ten codes spare, and compress
	// smaller than three bits would (docs/statuslist.md, "Why 4 bits").
	BitsPerEntry = 4
	// MinSize is the size of a new list: 2^17 = 131,072 entries, the
	// minimum the W3C Bitstring Status List recommends so that an index
	// hides its holder among many.
	MinSize = 1 << 17
	// MaxSize is the largest a list grows: 2^25 entries, 16 MiB packed.
	MaxSize = 1 << 25
)

// maxDraws is how many random draws Assign makes before it picks the free
// entry by counting. While occupancy is at most a half, all of them miss
// with probability at most 2^-64.
const maxDraws = 64

// Options configure a new List.
type Options struct {
	// Size is the initial number of entries, rounded up to a power of two
	// from MinSize to MaxSize. A list rebuilt after a restart needs a size
	// above every index already handed out.
	Size uint32
	// Version is the version of the new list; 1 when zero. A list rebuilt
	// after a restart should start above every version it published
	// before, e.g. at the Unix time in microseconds (see Version).
	Version uint64
	// Rand is the source of random indices; crypto/rand when nil. Tests
	// inject a seeded source to be reproducible.
	Rand io.Reader
}

// List is an issuer's status list: one entry of BitsPerEntry bits per
// index, each holding a State. Assign hands out indices at random; Set
// records a permit's state; Publish signs the whole list. A List is safe
// for concurrent use.
type List struct {
	mu      sync.RWMutex
	size    uint32   // entries; a power of two
	maxSize uint32   // MaxSize, lowered by tests
	packed  []byte   // size/2 bytes; entry i in byte i/2, even i in the low nibble
	taken   []uint64 // one bit per entry: assigned or holding a state
	used    uint32   // number of bits set in taken
	version uint64
	rand    *bufio.Reader
	rbuf    [4]byte // random's buffer, kept here so that it does not escape
}

// New returns an empty list.
func New(opts Options) *List {
	size := uint32(MinSize)
	if opts.Size > size {
		size = ceilPow2(opts.Size)
	}
	src := opts.Rand
	if src == nil {
		src = rand.Reader
	}
	version := opts.Version
	if version == 0 {
		version = 1
	}
	return &List{
		size:    size,
		maxSize: MaxSize,
		packed:  make([]byte, size/2),
		taken:   make([]uint64, size/64),
		version: version,
		rand:    bufio.NewReaderSize(src, 256),
	}
}

// ceilPow2 returns the least power of two >= n, for 0 < n <= MaxSize; n
// above MaxSize gives MaxSize.
func ceilPow2(n uint32) uint32 {
	if n >= MaxSize {
		return MaxSize
	}
	return 1 << bits.Len32(n-1)
}

// Size returns the number of entries.
func (l *List) Size() uint32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Used returns the number of entries assigned or holding a state.
func (l *List) Used() uint32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.used
}

// Version returns the list's version. It goes up by one on every change a
// verifier could see: a Set that changes an entry, and every growth.
// Assign and Release change nothing published and leave it alone.
func (l *List) Version() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.version
}

// Assign reserves a free entry and returns its index, drawn uniformly at
// random among the free entries, so that an index tells nothing about
// when or in what order its permit was issued, nor how many were issued.
// It never returns an index that is assigned or holds a state. The entry
// stays Unused, and is published as such, until Set gives it a state;
// Release gives it back if the permit was not issued after all.
//
// Before assigning, Assign doubles the list while more than half of it
// would be used, so a draw hits a free entry with probability at least a
// half: on average at most two draws of four random bytes. A growth copies
// the list, O(size), but happens once per doubling, so its cost per
// assignment is constant. Only at MaxSize does occupancy pass a half;
// after 64 missed draws Assign then picks the free entry by counting,
// which reads the whole bitmap (2^19 words). It returns ErrFull when every
// entry of a MaxSize list is used, and the random source's error if it
// fails.
func (l *List) Assign() (uint32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.used >= l.size/2 && l.size < l.maxSize {
		l.grow()
	}
	if l.used == l.size {
		return 0, ErrFull
	}
	mask := l.size - 1
	for range maxDraws {
		r, err := l.random()
		if err != nil {
			return 0, err
		}
		if i := r & mask; !l.isTaken(i) {
			l.take(i)
			return i, nil
		}
	}
	// Pick the k-th free entry, k uniform below the number free.
	free := l.size - l.used
	var k uint32
	for {
		r, err := l.random()
		if err != nil {
			return 0, err
		}
		if k = r & (ceilPow2(free) - 1); k < free {
			break
		}
	}
	for w, word := range l.taken {
		n := uint32(64 - bits.OnesCount64(word))
		if k >= n {
			k -= n
			continue
		}
		for b := range uint32(64) {
			if word&(1<<b) == 0 {
				if k == 0 {
					i := uint32(w)*64 + b
					l.take(i)
					return i, nil
				}
				k--
			}
		}
	}
	panic("statuslist: free entry count out of step with the bitmap")
}

// random returns 32 random bits.
func (l *List) random() (uint32, error) {
	if _, err := io.ReadFull(l.rand, l.rbuf[:]); err != nil {
		return 0, fmt.Errorf("statuslist: random index: %w", err)
	}
	return binary.LittleEndian.Uint32(l.rbuf[:]), nil
}

func (l *List) isTaken(i uint32) bool { return l.taken[i/64]&(1<<(i%64)) != 0 }

func (l *List) take(i uint32) {
	l.taken[i/64] |= 1 << (i % 64)
	l.used++
}

// grow doubles the list. The new entries are Unused; the version goes up
// because the published size changes.
func (l *List) grow() {
	size := l.size * 2
	packed := make([]byte, size/2)
	copy(packed, l.packed)
	taken := make([]uint64, size/64)
	copy(taken, l.taken)
	l.size, l.packed, l.taken = size, packed, taken
	l.version++
}

// Release gives back an entry that Assign reserved for a permit that was
// then not issued. It returns ErrInUse if the entry holds a state (an
// index once published is never reused) and ErrIndex if it is out of
// range; releasing a free entry does nothing.
func (l *List) Release(index uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index >= l.size {
		return fmt.Errorf("%w: %d, size %d", ErrIndex, index, l.size)
	}
	if get(l.packed, index) != Unused {
		return fmt.Errorf("%w: index %d", ErrInUse, index)
	}
	if l.isTaken(index) {
		l.taken[index/64] &^= 1 << (index % 64)
		l.used--
	}
	return nil
}

// Set records the state of the permit that holds index, which then counts
// as used whether or not Assign handed it out: rebuilding a list after a
// restart is Set for every stored permit. The version goes up when the
// entry changes. It returns ErrIndex for an index not below Size and
// ErrState for Unused (an entry never goes back to unused) or a code that
// is not a defined state.
func (l *List) Set(index uint32, s State) error {
	if s == Unused || !s.Known() {
		return fmt.Errorf("%w: %v", ErrState, s)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if index >= l.size {
		return fmt.Errorf("%w: %d, size %d", ErrIndex, index, l.size)
	}
	if !l.isTaken(index) {
		l.take(index)
	}
	if get(l.packed, index) != s {
		set(l.packed, index, s)
		l.version++
	}
	return nil
}

// Get returns the state of the entry at index, or ErrIndex.
func (l *List) Get(index uint32) (State, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if index >= l.size {
		return Unused, fmt.Errorf("%w: %d, size %d", ErrIndex, index, l.size)
	}
	return get(l.packed, index), nil
}

// snapshot returns a copy of the packed entries with their version.
func (l *List) snapshot() (packed []byte, version uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]byte(nil), l.packed...), l.version
}

// get reads entry i of packed: the low nibble of byte i/2 for even i, the
// high nibble for odd i.
func get(packed []byte, i uint32) State {
	return State(packed[i/2] >> (4 * (i % 2)) & 0xf)
}

func set(packed []byte, i uint32, s State) {
	shift := 4 * (i % 2)
	packed[i/2] = packed[i/2]&^(0xf<<shift) | byte(s)<<shift
}
