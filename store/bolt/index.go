package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// citizenIndex is the citizen index, kept in memory: for every citizen id,
// the permits whose current version it holds and whether each is final.
// Open builds it from the permits bucket; the commit loop keeps it up to
// date. The package comment says why it is not in the file.
//
// Only the commit loop changes it, so the commit loop reads it without mu;
// mu guards it against the readers (ListPermits by citizen id).
//
// Around each commit the index holds more than the file: stage adds the
// holders a transaction gives its permits before the commit, apply removes
// the holders it takes away after the commit. So whenever mu is free, the
// index lists every permit under its holder in whichever state a reader's
// snapshot shows, before or after the commit, and may list it under a
// second holder too; readers check each permit's holder in their snapshot.
type citizenIndex struct {
	mu       sync.RWMutex
	citizens map[string]holdings
	// held are the status-list indices the permits hold (statusindex.go).
	held heldIndices
}

// newCitizenIndex returns an empty citizen index.
func newCitizenIndex() *citizenIndex {
	return &citizenIndex{citizens: make(map[string]holdings)}
}

// holdings are one citizen's permits in the index, packed into one string
// to keep the index small. For each permit, in id order: one flag byte
// (flagNonFinal or flagFinal), the permit id, then 0x00, which no permit id
// holds.
type holdings string

// Citizen-index flags.
const (
	flagFinal    byte = 0
	flagNonFinal byte = 1
)

// all yields the permit ids in id order, each with whether it is not final.
func (h holdings) all() iter.Seq2[string, bool] {
	return func(yield func(string, bool) bool) {
		for len(h) > 0 {
			end := 1 + strings.IndexByte(string(h[1:]), 0)
			if !yield(string(h[1:end]), h[0] == flagNonFinal) {
				return
			}
			h = h[end+1:]
		}
	}
}

// find returns where the entry of id starts and ends in h; when there is
// none, start and end are both where it would go.
func (h holdings) find(id string) (start, end int) {
	for start < len(h) {
		end = start + 1 + strings.IndexByte(string(h[start+1:]), 0)
		switch got := string(h[start+1 : end]); {
		case got == id:
			return start, end + 1
		case got > id:
			return start, start
		}
		start = end + 1
	}
	return start, start
}

// with returns h with the entry of id added or replaced.
func (h holdings) with(id string, nonFinal bool) holdings {
	start, end := h.find(id)
	flag := flagFinal
	if nonFinal {
		flag = flagNonFinal
	}
	var b strings.Builder
	b.Grow(len(h) - (end - start) + 1 + len(id) + 1)
	b.WriteString(string(h[:start]))
	b.WriteByte(flag)
	b.WriteString(id)
	b.WriteByte(0)
	b.WriteString(string(h[end:]))
	return holdings(b.String())
}

// without returns h without the entry of id.
func (h holdings) without(id string) holdings {
	start, end := h.find(id)
	return h[:start] + h[end:]
}

// has reports whether h holds an entry of id.
func (h holdings) has(id string) bool {
	start, end := h.find(id)
	return end > start
}

// loadCitizenIndex builds the citizen index from the permits bucket in one
// pass: the holder and status of the last version of every permit.
func loadCitizenIndex(tx *bbolt.Tx) (*citizenIndex, error) {
	ix := newCitizenIndex()
	c := tx.Bucket(bucketPermits).Cursor()
	var id, data []byte // the permit being read and its latest version so far
	for k, v := c.First(); ; k, v = c.Next() {
		var next []byte
		if k != nil {
			var ok bool
			if next, _, ok = splitPermitKey(k); !ok || bytes.IndexByte(next, 0) >= 0 {
				return nil, fmt.Errorf("malformed permits key %q", k)
			}
		}
		if id != nil && !bytes.Equal(next, id) {
			citizen, final, err := holderOf(data)
			if err != nil {
				return nil, fmt.Errorf("permit %s: %w", id, err)
			}
			ix.citizens[string(citizen)] = ix.citizens[string(citizen)].with(string(id), !final)
			if i, ok, err := statusIndexOf(data); err != nil {
				return nil, fmt.Errorf("permit %s: %w", id, err)
			} else if ok {
				ix.held.add(i)
			}
		}
		if k == nil {
			return ix, nil
		}
		id, data = next, v
	}
}

// Field numbers that holderOf reads.
var (
	permitFields   = (*epermitv1.Permit)(nil).ProtoReflect().Descriptor().Fields()
	fieldHolder    = permitFields.ByName("holder").Number()
	fieldStatus    = permitFields.ByName("status").Number()
	fieldCitizenID = (*epermitv1.Holder)(nil).ProtoReflect().Descriptor().Fields().ByName("citizen_id").Number()
)

// errMalformedWire is returned by holderOf for data that is not protobuf.
var errMalformedWire = errors.New("malformed protobuf")

// holderOf reads a stored permit's holder citizen id and whether its
// recorded status is final, skipping every other field: decoding whole
// permits would make Open several times slower. It reads repeated
// occurrences of a field the way proto.Unmarshal does (the last one wins,
// occurrences of the holder merge). The citizen id aliases data.
func holderOf(data []byte) (citizen []byte, final bool, err error) {
	var status epermitv1.PermitStatus
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false, errMalformedWire
		}
		b = b[n:]
		switch {
		case num == fieldHolder && typ == protowire.BytesType:
			var holder []byte
			if holder, n = protowire.ConsumeBytes(b); n >= 0 {
				if id, ok := citizenIDOf(holder); !ok {
					return nil, false, errMalformedWire
				} else if id != nil {
					citizen = id
				}
			}
		case num == fieldStatus && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			status = epermitv1.PermitStatus(int32(v))
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, false, errMalformedWire
		}
		b = b[n:]
	}
	return citizen, store.IsFinal(status), nil
}

// citizenIDOf returns the last citizen id in an encoded Holder, or nil when
// it has none; ok is false when the encoding is malformed.
func citizenIDOf(b []byte) (id []byte, ok bool) {
	return lastBytesField(b, fieldCitizenID)
}

// lastBytesField returns the last occurrence of the string or bytes field
// with this number in an encoded message, as proto.Unmarshal would read it,
// or nil when there is none; ok is false when the encoding is malformed.
// The value aliases b.
func lastBytesField(b []byte, field protowire.Number) (id []byte, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num == field && typ == protowire.BytesType {
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n >= 0 {
				// An empty one counts: it replaces an earlier one.
				id = v
			}
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	return id, true
}

// snapshot begins a read-only transaction and returns it with the
// citizen's holdings, both taken while no commit changes the index, so the
// holdings name every permit that the citizen holds in the transaction's
// snapshot (and maybe more). The caller rolls the transaction back.
func (ix *citizenIndex) snapshot(db *bbolt.DB, citizen string) (*bbolt.Tx, holdings, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	tx, err := db.Begin(false)
	if err != nil {
		return nil, "", err
	}
	return tx, ix.citizens[citizen], nil
}

// indexBatch is what the writes of one transaction have changed in the
// citizen index so far, applied to the index only once the transaction has
// committed. Only the commit loop uses it.
type indexBatch struct {
	index   *citizenIndex
	changes []indexChange
	byID    map[string]int // index into changes, by permit id
	// assigned are the status-list indices the transaction gives permits.
	assigned []uint32
	// byCitizen lists the changes that have had each holder (a change
	// that moved is listed under both), so that a check does not read
	// every change of a large transaction (WritePermits).
	byCitizen map[string][]int
}

// indexChange is a permit's place in the index as the transaction leaves
// it.
type indexChange struct {
	id       string
	from     string // holder in the index before the transaction; "" for a new permit
	citizen  string // holder as written
	nonFinal bool
	staged   bool // stage added the permit under citizen
}

// newBatch starts the index changes of one transaction.
func (ix *citizenIndex) newBatch() *indexBatch {
	return &indexBatch{index: ix, byID: make(map[string]int), byCitizen: make(map[string][]int)}
}

// set records that the transaction has written the permit id with this
// holder and finality; from is its holder before this write, "" for a new
// permit.
func (b *indexBatch) set(id, from, citizen string, nonFinal bool) {
	if i, ok := b.byID[id]; ok {
		if b.changes[i].citizen != citizen {
			b.byCitizen[citizen] = append(b.byCitizen[citizen], i)
		}
		b.changes[i].citizen, b.changes[i].nonFinal = citizen, nonFinal
		return
	}
	b.byID[id] = len(b.changes)
	b.byCitizen[citizen] = append(b.byCitizen[citizen], len(b.changes))
	b.changes = append(b.changes, indexChange{id: id, from: from, citizen: citizen, nonFinal: nonFinal})
}

// nonFinal returns the id of the citizen's non-final permit other than
// except, as the index and the transaction's writes so far have it, or ""
// when there is none.
func (b *indexBatch) nonFinal(citizen, except string) string {
	for id, nonFinal := range b.index.citizens[citizen].all() {
		if !nonFinal || id == except {
			continue
		}
		if i, ok := b.byID[id]; ok && (b.changes[i].citizen != citizen || !b.changes[i].nonFinal) {
			continue // moved away or made final in this transaction
		}
		return id
	}
	for _, i := range b.byCitizen[citizen] {
		if ch := b.changes[i]; ch.citizen == citizen && ch.nonFinal && ch.id != except {
			return ch.id
		}
	}
	return ""
}

// stage adds every permit of b under its new holder before b's
// transaction commits, so a reader whose snapshot has the commit finds the
// permit among the citizen's candidates. It changes no flag: the commit
// loop, the only one that reads flags, checks no rule until apply or
// unstage.
func (ix *citizenIndex) stage(b *indexBatch) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := range b.changes {
		ch := &b.changes[i]
		if h := ix.citizens[ch.citizen]; !h.has(ch.id) {
			ix.citizens[ch.citizen] = h.with(ch.id, false)
			ch.staged = true
		}
	}
}

// apply makes the index what b's committed transaction left: each permit
// under its new holder with its flag, and no longer under its old one.
func (ix *citizenIndex) apply(b *indexBatch) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, ch := range b.changes {
		if ch.from != "" && ch.from != ch.citizen {
			ix.remove(ch.from, ch.id)
		}
		ix.citizens[ch.citizen] = ix.citizens[ch.citizen].with(ch.id, ch.nonFinal)
	}
	for _, i := range b.assigned {
		ix.held.add(i)
	}
}

// unstage undoes stage after b's transaction failed.
func (ix *citizenIndex) unstage(b *indexBatch) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, ch := range b.changes {
		if ch.staged {
			ix.remove(ch.citizen, ch.id)
		}
	}
}

// remove takes the permit id from the citizen's holdings, and the citizen
// from the index when it holds nothing more. The caller holds mu.
func (ix *citizenIndex) remove(citizen, id string) {
	if h := ix.citizens[citizen].without(id); h == "" {
		delete(ix.citizens, citizen)
	} else {
		ix.citizens[citizen] = h
	}
}
