package bolt

import (
	"bytes"
	"errors"
	"iter"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// The citizen index is the citizens bucket: key = citizen id || 0x00 ||
// permit id, value = one flag byte, flagNonFinal while the permit's current
// version is not final (store.IsFinal), flagFinal once it is. A permit has
// exactly one key, under the holder of its current version. Citizen ids hold
// no NUL byte (newChange refuses them), so the prefix citizen id || 0x00
// names one citizen's permits, in permit id order. The package comment
// says what the bucket costs and why it is in the file.

// Citizen-index flags.
const (
	flagFinal    byte = 0
	flagNonFinal byte = 1
)

// citizenPrefix is the prefix of every citizens key of the citizen.
func citizenPrefix(citizen string) []byte {
	k := make([]byte, 0, len(citizen)+1+24)
	k = append(k, citizen...)
	return append(k, 0)
}

// citizenKey is the citizens key of one permit of the citizen.
func citizenKey(citizen, id string) []byte {
	return append(citizenPrefix(citizen), id...)
}

// citizenPermits yields the ids of the permits that the citizen holds in the
// transaction of c, in id order, each with whether it is not final. The ids
// alias the transaction's pages.
func citizenPermits(c *bbolt.Cursor, citizen string) iter.Seq2[[]byte, bool] {
	return func(yield func([]byte, bool) bool) {
		prefix := citizenPrefix(citizen)
		for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if !yield(k[len(prefix):], len(v) == 1 && v[0] == flagNonFinal) {
				return
			}
		}
	}
}

// nonFinalPermit returns the id of the citizen's non-final permit other
// than except, as tx has it, or "" when there is none.
func nonFinalPermit(tx *bbolt.Tx, citizen, except string) string {
	for id, nonFinal := range citizenPermits(tx.Bucket(bucketCitizens).Cursor(), citizen) {
		if nonFinal && string(id) != except {
			return string(id)
		}
	}
	return ""
}

// indexHolder records in tx that the permit id is held by citizen, not
// final or final, and no longer by from, its holder before the write (""
// for a new permit). A key that already says so is left alone: most
// writes of a permit (an endorsement, a new address, a re-signing) change
// neither, and a put would rewrite a page at a random place.
func indexHolder(tx *bbolt.Tx, id, from, citizen string, nonFinal bool) error {
	citizens := tx.Bucket(bucketCitizens)
	if from != "" && from != citizen {
		if err := citizens.Delete(citizenKey(from, id)); err != nil {
			return err
		}
	}
	flag := flagFinal
	if nonFinal {
		flag = flagNonFinal
	}
	key := citizenKey(citizen, id)
	if v := citizens.Get(key); len(v) == 1 && v[0] == flag {
		return nil
	}
	return citizens.Put(key, []byte{flag})
}

// Field numbers that factsOf reads.
var (
	permitFields     = (*epermitv1.Permit)(nil).ProtoReflect().Descriptor().Fields()
	fieldHolder      = permitFields.ByName("holder").Number()
	fieldStatus      = permitFields.ByName("status").Number()
	fieldStatusIndex = permitFields.ByName("status_index").Number()
	fieldCitizenID   = (*epermitv1.Holder)(nil).ProtoReflect().Descriptor().Fields().ByName("citizen_id").Number()
)

// errMalformedWire is returned by factsOf for data that is not protobuf.
var errMalformedWire = errors.New("malformed protobuf")

// permitFacts are what the conversion from layout 2 and Import need of a
// stored permit.
type permitFacts struct {
	citizen  []byte // the holder's citizen id; aliases the data read
	status   epermitv1.PermitStatus
	index    uint32 // the status index, when hasIndex
	hasIndex bool
}

// factsOf reads a stored permit's holder citizen id, recorded status and
// status index, skipping every other field: decoding whole permits would
// make the conversion of a file several times slower. It reads repeated
// occurrences of a field the way proto.Unmarshal does (the last one wins,
// occurrences of the holder merge).
func factsOf(data []byte) (permitFacts, error) {
	var f permitFacts
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return permitFacts{}, errMalformedWire
		}
		b = b[n:]
		switch {
		case num == fieldHolder && typ == protowire.BytesType:
			var holder []byte
			if holder, n = protowire.ConsumeBytes(b); n >= 0 {
				if id, ok := citizenIDOf(holder); !ok {
					return permitFacts{}, errMalformedWire
				} else if id != nil {
					f.citizen = id
				}
			}
		case num == fieldStatus && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			f.status = epermitv1.PermitStatus(int32(v))
		case num == fieldStatusIndex && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			f.index, f.hasIndex = uint32(v), true
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return permitFacts{}, errMalformedWire
		}
		b = b[n:]
	}
	return f, nil
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
