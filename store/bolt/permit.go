package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// GetPermit returns the permit with this id, or store.ErrNotFound.
func (s *Store) GetPermit(ctx context.Context, id string) (*epermitv1.Permit, error) {
	var p *epermitv1.Permit
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		_, v := currentPermit(tx.Bucket(bucketPermits).Cursor(), id)
		if v == nil {
			return store.ErrNotFound
		}
		var err error
		p, err = unmarshalPermit(id, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ListPermits returns up to limit permits whose id sorts after the given id
// ("" for the start), in id order, that match the filter. A limit below one
// returns none.
func (s *Store) ListPermits(ctx context.Context, filter store.PermitFilter, after string, limit int) ([]*epermitv1.Permit, error) {
	var out []*epermitv1.Permit
	var err error
	if filter.CitizenID == "" {
		err = s.view(ctx, func(tx *bbolt.Tx) error {
			if limit < 1 {
				return nil
			}
			return listAll(tx.Bucket(bucketPermits).Cursor(), after, limit, &out)
		})
	} else {
		err = s.view(ctx, func(tx *bbolt.Tx) error {
			return listCitizen(tx, filter.CitizenID, after, limit, &out)
		})
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listCitizen appends to out the current versions of up to limit permits
// that the citizen holds in tx, whose id sorts after the given one.
func listCitizen(tx *bbolt.Tx, citizen, after string, limit int, out *[]*epermitv1.Permit) error {
	permits := tx.Bucket(bucketPermits).Cursor()
	for id := range citizenPermits(tx.Bucket(bucketCitizens).Cursor(), citizen) {
		if len(*out) >= limit {
			return nil
		}
		if string(id) <= after {
			continue
		}
		_, v := currentPermit(permits, string(id))
		if v == nil {
			return fmt.Errorf("bolt: citizen index names missing permit %s", id)
		}
		p, err := unmarshalPermit(string(id), v)
		if err != nil {
			return err
		}
		*out = append(*out, p)
	}
	return nil
}

// listAll appends to out the current versions of up to limit permits whose
// id sorts after the given one, walking every version in key order and
// keeping the last of each id.
func listAll(c *bbolt.Cursor, after string, limit int, out *[]*epermitv1.Permit) error {
	var k, v []byte
	if after == "" {
		k, v = c.First()
	} else {
		// id || 0x01 sorts after every key of id and before every key of
		// an id that sorts after it.
		k, v = c.Seek(append([]byte(after), 1))
	}
	var curID, curVal []byte
	flush := func() error {
		if curID == nil {
			return nil
		}
		p, err := unmarshalPermit(string(curID), curVal)
		if err != nil {
			return err
		}
		*out = append(*out, p)
		return nil
	}
	for ; k != nil && len(*out) < limit; k, v = c.Next() {
		id, _, ok := splitPermitKey(k)
		if !ok {
			return fmt.Errorf("bolt: malformed permits key %q", k)
		}
		if curID != nil && !bytes.Equal(id, curID) {
			if err := flush(); err != nil {
				return err
			}
		}
		curID, curVal = id, v
	}
	if len(*out) < limit {
		return flush()
	}
	return nil
}

// Replay returns what the write with this request id recorded, or
// store.ErrNotFound when no write carried it.
func (s *Store) Replay(ctx context.Context, requestID string) (*store.Replayed, error) {
	var r *store.Replayed
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketRequests).Get([]byte(requestID))
		if v == nil {
			return store.ErrNotFound
		}
		rec, err := decodeRequest(v)
		if err != nil {
			return fmt.Errorf("bolt: request %q: %w", requestID, err)
		}
		r = &store.Replayed{RequestHash: bytes.Clone(rec.hash)}
		switch rec.kind {
		case kindPermit:
			data := tx.Bucket(bucketPermits).Get(permitKey(rec.permitID, rec.version))
			if data == nil {
				return fmt.Errorf("bolt: request %q names missing permit %s version %d", requestID, rec.permitID, rec.version)
			}
			r.Permit, err = unmarshalPermit(rec.permitID, data)
		case kindApplication:
			r.Application, err = unmarshalApplication("of request "+requestID, rec.pending)
		case kindServiceRequest:
			r.ServiceRequest, err = unmarshalServiceRequest("of request "+requestID, rec.pending)
		default:
			r.Pending = new(epermitv1.PendingCancellation)
			if err = proto.Unmarshal(rec.pending, r.Pending); err != nil {
				err = fmt.Errorf("bolt: request %q: decode pending cancellation: %w", requestID, err)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// WritePermit stores w.Permit, its request record and its audit entry, and
// removes the pending cancellation it resolves, after the checks that
// store.Store.WritePermit lists, all in one transaction. When
// w.ResolvePending names a pending cancellation that does not exist or is
// not of this permit, it returns store.ErrNoPending. The write is durable
// when it returns nil, unless the store was opened with NoSync; then
// w.Audit holds its seq, prev_hash and hash. Before any transaction it
// refuses a permit without an id or a holder citizen id, a permit id (NUL
// is the key separator) or citizen id with a NUL byte, and a version other
// than w.PrevVersion+1.
func (s *Store) WritePermit(ctx context.Context, w store.PermitWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := newChange(w)
	if err != nil {
		return err
	}
	return s.batch(ctx, "write permit "+c.id, c.apply)
}

// newChange checks and prepares w outside the transaction.
func newChange(w store.PermitWrite) (*change, error) {
	p := w.Permit
	if p == nil {
		return nil, errors.New("bolt: write without a permit")
	}
	id, citizen := p.GetId(), p.GetHolder().GetCitizenId()
	switch {
	case id == "":
		return nil, errors.New("bolt: permit has no id")
	case strings.IndexByte(id, 0) >= 0:
		return nil, fmt.Errorf("bolt: permit id %q contains a NUL byte", id)
	case citizen == "":
		return nil, fmt.Errorf("bolt: permit %s has no holder citizen id", id)
	case strings.IndexByte(citizen, 0) >= 0:
		return nil, fmt.Errorf("bolt: permit %s: citizen id contains a NUL byte", id)
	case w.PrevVersion < 0 || p.GetVersion() != w.PrevVersion+1:
		return nil, fmt.Errorf("bolt: permit %s: version %d does not follow previous version %d", id, p.GetVersion(), w.PrevVersion)
	}
	if err := store.CheckStatusIndex(p); err != nil {
		return nil, err
	}
	data, err := marshalOptions.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("bolt: marshal permit %s: %w", id, err)
	}
	c := &change{
		write:   w,
		id:      id,
		citizen: citizen,
		final:   store.IsFinal(p.GetStatus()),
		data:    data,
	}
	if w.RequestID != "" {
		c.request = encodePermitRequest(w.RequestHash, id, p.GetVersion())
	}
	return c, nil
}

// change is one WritePermit, prepared outside the transaction.
type change struct {
	write   store.PermitWrite
	id      string
	citizen string
	final   bool
	data    []byte // the permit, marshalled
	request []byte // the request record, nil without a request id
}

// apply checks the change against the state in tx and, when it passes,
// writes it with its citizen-index and status-list entries. It returns the
// business refusal (nothing written) as refused and returns err only for
// storage failures, which fail the whole batch. It reads everything
// afresh, so running it again is safe.
func (c *change) apply(tx *bbolt.Tx) (refused, err error) {
	permits := tx.Bucket(bucketPermits)
	permits.FillPercent = 1
	requests := tx.Bucket(bucketRequests)
	w := &c.write

	// Checks: nothing is written until all have passed.
	if c.request != nil && requests.Get([]byte(w.RequestID)) != nil {
		return store.ErrDuplicateRequest, nil
	}
	var old *epermitv1.Permit
	if _, v := currentPermit(permits.Cursor(), c.id); v != nil {
		if w.PrevVersion == 0 {
			return store.ErrConflict, nil
		}
		if old, err = unmarshalPermit(c.id, v); err != nil {
			return nil, err
		}
		if old.GetVersion() != w.PrevVersion {
			return store.ErrConflict, nil
		}
	} else if w.PrevVersion > 0 {
		return store.ErrNotFound, nil
	}
	if w.ResolvePending != "" {
		v := tx.Bucket(bucketPending).Get([]byte(w.ResolvePending))
		if v == nil {
			return store.ErrNoPending, nil
		}
		pc, err := unmarshalPending(w.ResolvePending, v)
		if err != nil {
			return nil, err
		}
		if pc.GetPermitId() != c.id {
			return fmt.Errorf("%w: %s is a cancellation of permit %s, not %s", store.ErrNoPending, w.ResolvePending, pc.GetPermitId(), c.id), nil
		}
	}
	if !c.final {
		if holder := nonFinalPermit(tx, c.citizen, c.id); holder != "" {
			return &store.ActivePermitError{PermitID: holder}, nil
		}
	}
	// The last check, and the first write when it passes.
	if refused, err := setStatusEntry(tx, old, w.Permit); refused != nil || err != nil {
		return refused, err
	}

	// Writes.
	if err := permits.Put(permitKey(c.id, w.Permit.GetVersion()), c.data); err != nil {
		return nil, err
	}
	from := ""
	if old != nil {
		from = old.GetHolder().GetCitizenId()
	}
	if err := indexHolder(tx, c.id, from, c.citizen, !c.final); err != nil {
		return nil, err
	}
	if c.request != nil {
		if err := requests.Put([]byte(w.RequestID), c.request); err != nil {
			return nil, err
		}
	}
	if w.ResolvePending != "" {
		if err := deletePending(tx, w.ResolvePending, c.id); err != nil {
			return nil, err
		}
	}
	if w.Audit != nil {
		if err := appendAudit(tx, w.Audit); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// currentPermit returns the key and value of the last version of the permit
// with this id, or nils when there is none.
func currentPermit(c *bbolt.Cursor, id string) (k, v []byte) {
	if strings.IndexByte(id, 0) >= 0 {
		return nil, nil
	}
	prefix := append([]byte(id), 0)
	// Every key of the id lies between id || 0x00 and id || 0x01.
	end := append([]byte(id), 1)
	if k, _ = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// permitKey is the permits key of one version of a permit.
func permitKey(id string, version int64) []byte {
	k := make([]byte, 0, len(id)+1+8)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(version))
}

// splitPermitKey splits a permits key into its permit id and version.
func splitPermitKey(k []byte) (id []byte, version int64, ok bool) {
	n := len(k) - 9
	if n < 1 || k[n] != 0 {
		return nil, 0, false
	}
	return k[:n], int64(binary.BigEndian.Uint64(k[n+1:])), true
}

// unmarshalPermit decodes the stored permit with this id.
func unmarshalPermit(id string, data []byte) (*epermitv1.Permit, error) {
	p := new(epermitv1.Permit)
	if err := proto.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("bolt: decode permit %s: %w", id, err)
	}
	return p, nil
}

// Request record kinds.
const (
	kindPermit         byte = 1
	kindPendingAdded   byte = 2
	kindPendingRemoved byte = 3
	kindApplication    byte = 4
	kindServiceRequest byte = 5
)

// request is a decoded request record.
type request struct {
	kind     byte
	hash     []byte
	permitID string // kindPermit
	version  int64  // kindPermit
	pending  []byte // the other kinds: the marshalled pending cancellation, application or service request
}

// encodePermitRequest builds the request record of a permit write:
// kind || uvarint(len(hash)) || hash || 8-byte version || permit id.
func encodePermitRequest(hash []byte, id string, version int64) []byte {
	b := requestHeader(kindPermit, hash, 8+len(id))
	b = binary.BigEndian.AppendUint64(b, uint64(version))
	return append(b, id...)
}

// encodePendingRequest builds the request record of a pending,
// application or service request write: kind || uvarint(len(hash)) ||
// hash || the value, marshalled.
func encodePendingRequest(kind byte, hash, pending []byte) []byte {
	return append(requestHeader(kind, hash, len(pending)), pending...)
}

// requestHeader starts a request record with room for a body of n bytes.
func requestHeader(kind byte, hash []byte, n int) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(hash)+n)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(hash)))
	return append(b, hash...)
}

// decodeRequest parses a request record. The slices alias rec.
func decodeRequest(rec []byte) (request, error) {
	if len(rec) == 0 {
		return request{}, errors.New("empty request record")
	}
	r := request{kind: rec[0]}
	rest := rec[1:]
	n, size := binary.Uvarint(rest)
	if size <= 0 || n > uint64(len(rest)-size) {
		return request{}, errors.New("corrupt request record")
	}
	r.hash, rest = rest[size:size+int(n)], rest[size+int(n):]
	switch r.kind {
	case kindPermit:
		if len(rest) < 9 {
			return request{}, errors.New("corrupt permit request record")
		}
		r.version, r.permitID = int64(binary.BigEndian.Uint64(rest)), string(rest[8:])
	case kindPendingAdded, kindPendingRemoved, kindApplication, kindServiceRequest:
		r.pending = rest
	default:
		return request{}, fmt.Errorf("unknown request record kind %d", r.kind)
	}
	return r, nil
}
