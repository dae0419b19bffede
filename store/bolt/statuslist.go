package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"
)

// The store keeps the division's status list (store.StatusListKeeper) in
// the status bucket, in chunks of chunkEntries entries: key = 4-byte chunk
// number n, value = the states of entries n*chunkEntries on, packed as
// statuslist packs them (chunkEntries/2 bytes), then one bit per entry
// (entry i of the chunk in bit i%8 of byte i/8, chunkEntries/8 bytes), set
// once a permit holds the entry. A chunk no permit touched has no key.
// Meta's "status_version" holds the list's version, 8 bytes.
//
// Small chunks keep the write of one entry small: indices are drawn at
// random, so each issued permit rewrites a chunk of its own.
const chunkEntries = 512

// Sizes of a chunk's parts.
const (
	chunkStates = chunkEntries / 2
	chunkHeld   = chunkEntries / 8
)

// statusChunk is one value of the status bucket.
type statusChunk []byte

// newStatusChunk returns a chunk with no entry held.
func newStatusChunk() statusChunk { return make(statusChunk, chunkStates+chunkHeld) }

// chunkKey is the status bucket key of the chunk holding entry i.
func chunkKey(i uint32) []byte { return binary.BigEndian.AppendUint32(nil, i/chunkEntries) }

// held reports whether a permit holds entry i.
func (c statusChunk) held(i uint32) bool {
	e := i % chunkEntries
	return c[chunkStates+e/8]&(1<<(e%8)) != 0
}

// hold records that a permit holds entry i.
func (c statusChunk) hold(i uint32) {
	e := i % chunkEntries
	c[chunkStates+e/8] |= 1 << (e % 8)
}

// setState sets entry i to s and reports whether that changed it.
func (c statusChunk) setState(i uint32, s statuslist.State) bool {
	e := i % chunkEntries
	shift := 4 * (e % 2)
	b := &c[e/2]
	want := byte(s) << shift
	if *b&(0xf<<shift) == want {
		return false
	}
	*b = *b&^(0xf<<shift) | want
	return true
}

var (
	bucketStatus     = []byte("status")
	keyStatusVersion = []byte("status_version")
)

// Store keeps the division's status list.
var _ store.StatusListKeeper = (*Store)(nil)

// StatusListVersion returns the version of the status list.
func (s *Store) StatusListVersion(ctx context.Context) (uint64, error) {
	var v uint64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		v, err = statusVersion(tx)
		return err
	})
	return v, err
}

// StatusList returns the status-list entries, packed as statuslist packs
// them up to the last byte that holds a state, with their version, from
// one snapshot.
func (s *Store) StatusList(ctx context.Context) ([]byte, uint64, error) {
	var packed []byte
	var v uint64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		if v, err = statusVersion(tx); err != nil {
			return err
		}
		c := tx.Bucket(bucketStatus).Cursor()
		for k, chunk := c.First(); k != nil; k, chunk = c.Next() {
			if len(k) != 4 || len(chunk) != chunkStates+chunkHeld {
				return fmt.Errorf("bolt: malformed status chunk %x", k)
			}
			at := int(binary.BigEndian.Uint32(k)) * chunkStates
			if at+chunkStates > statuslist.MaxSize/2 {
				return fmt.Errorf("bolt: status chunk %x beyond the largest list", k)
			}
			packed = append(packed, make([]byte, at-len(packed))...)
			packed = append(packed, chunk[:chunkStates]...)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return bytes.TrimRight(packed, "\x00"), v, nil
}

// StatusListShared reports false: only this process writes the file, so
// it keeps its list in step with its own writes.
func (s *Store) StatusListShared() bool { return false }

// statusVersion reads the list's version in tx.
func statusVersion(tx *bbolt.Tx) (uint64, error) {
	v := tx.Bucket(bucketMeta).Get(keyStatusVersion)
	if len(v) != 8 {
		return 0, fmt.Errorf("bolt: malformed status list version %x", v)
	}
	return binary.BigEndian.Uint64(v), nil
}

// putStatusVersion stores the list's version in tx.
func putStatusVersion(tx *bbolt.Tx, v uint64) error {
	return tx.Bucket(bucketMeta).Put(keyStatusVersion, binary.BigEndian.AppendUint64(nil, v))
}

// setStatusEntry gives next, the permit as a write leaves it, its entry
// in the status list: the held bit when the write assigns the index (old,
// the permit as stored, nil for a new one, had none) and the state its
// status publishes, moving the version when the state changes. It refuses
// (refused, nothing written) an index another permit holds
// (store.ErrIndexTaken) or a change of the index old holds; it must be the
// write's last check.
func setStatusEntry(tx *bbolt.Tx, old, next *epermitv1.Permit) (refused, err error) {
	_, assigns, err := store.StatusIndexChange(old, next)
	if err != nil {
		return err, nil
	}
	if next.StatusIndex == nil {
		return nil, nil
	}
	i := next.GetStatusIndex()
	status := tx.Bucket(bucketStatus)
	key := chunkKey(i)
	chunk := newStatusChunk()
	if v := status.Get(key); v != nil {
		if len(v) != len(chunk) {
			return nil, fmt.Errorf("bolt: malformed status chunk %x", key)
		}
		copy(chunk, v)
	}
	if assigns {
		if chunk.held(i) {
			return store.ErrIndexTaken, nil
		}
		chunk.hold(i)
	}
	changed := chunk.setState(i, store.ListState(next.GetStatus()))
	if !assigns && !changed {
		return nil, nil
	}
	if err := status.Put(key, chunk); err != nil {
		return nil, err
	}
	if !changed {
		return nil, nil
	}
	v, err := statusVersion(tx)
	if err != nil {
		return nil, err
	}
	return nil, putStatusVersion(tx, v+1)
}
