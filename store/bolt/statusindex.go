package bolt

import (
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// heldIndices is the set of status-list indices that the division's
// permits hold, one bit per index (at most statuslist.MaxSize bits, 4 MiB).
// Like the citizen index it lives in memory: Open builds it from the
// permits, and after that only the commit loop reads and changes it, so it
// needs no lock. It is how a write that would give a second permit the
// same index is refused (store.ErrIndexTaken).
type heldIndices []uint64

// has reports whether a permit holds index i.
func (h heldIndices) has(i uint32) bool {
	return int(i/64) < len(h) && h[i/64]&(1<<(i%64)) != 0
}

// add records that a permit holds index i.
func (h *heldIndices) add(i uint32) {
	for int(i/64) >= len(*h) {
		*h = append(*h, 0)
	}
	(*h)[i/64] |= 1 << (i % 64)
}

// claimStatusIndex checks the status index that next, the permit as this
// write leaves it, holds against old, the permit as stored (nil for a new
// one), and against the indices held and assigned earlier in the
// transaction. It returns the refusal, or records the index as assigned by
// the transaction. It must be the write's last check.
func (b *indexBatch) claimStatusIndex(old, next *epermitv1.Permit) (refused error) {
	i, assigns, err := store.StatusIndexChange(old, next)
	switch {
	case err != nil:
		return err
	case !assigns:
		return nil
	case b.index.held.has(i) || slices.Contains(b.assigned, i):
		return store.ErrIndexTaken
	}
	b.assigned = append(b.assigned, i)
	return nil
}

// fieldStatusIndex is the field number of Permit.status_index.
var fieldStatusIndex = permitFields.ByName("status_index").Number()

// statusIndexOf reads a stored permit's status index, skipping every other
// field; ok is false when it has none.
func statusIndexOf(data []byte) (index uint32, ok bool, err error) {
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false, errMalformedWire
		}
		b = b[n:]
		if num == fieldStatusIndex && typ == protowire.VarintType {
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			index, ok = uint32(v), true
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return 0, false, errMalformedWire
		}
		b = b[n:]
	}
	return index, ok, nil
}
