package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// GetServiceRequest returns the service request with this id, or
// store.ErrNotFound.
func (s *Store) GetServiceRequest(ctx context.Context, id string) (*epermitv1.ServiceRequest, error) {
	return getValue(ctx, s, bucketServiceReqs, id, store.ErrNotFound, unmarshalServiceRequest)
}

// ListServiceRequests returns up to limit service requests that match the
// filter, newest first (descending id), starting after the given id (""
// for the newest). With filter.PermitID set it reads that permit's keys in
// the permit index and decodes only its requests; otherwise it decodes
// every request from the newest down until the page is full, so a filter
// on state, department or create time that few requests pass reads many.
// A limit below one returns none.
func (s *Store) ListServiceRequests(ctx context.Context, filter store.ServiceRequestFilter, after string, limit int) ([]*epermitv1.ServiceRequest, error) {
	var out []*epermitv1.ServiceRequest
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if limit < 1 || strings.IndexByte(filter.PermitID, 0) >= 0 {
			return nil
		}
		reqs := tx.Bucket(bucketServiceReqs)
		// Each key of the walked bucket names one request: its id (the
		// requests themselves) or permit id || 0x00 || id (the index).
		c, prefix := reqs.Cursor(), []byte(nil)
		if filter.PermitID != "" {
			c, prefix = tx.Bucket(bucketSRPermits).Cursor(), srPermitPrefix(filter.PermitID)
		}
		n := 0
		for k, v := seekBefore(c, prefix, after); k != nil && len(out) < limit; k, v = c.Prev() {
			if !bytes.HasPrefix(k, prefix) {
				break
			}
			if err := pollCtx(ctx, &n); err != nil {
				return err
			}
			id := string(k[len(prefix):])
			if prefix != nil {
				if v = reqs.Get(k[len(prefix):]); v == nil {
					return fmt.Errorf("bolt: permit index names missing service request %s", id)
				}
			}
			r, err := unmarshalServiceRequest(id, v)
			if err != nil {
				return err
			}
			if filter.Matches(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// seekBefore positions c at the last key with prefix that sorts before
// prefix || after (after "": the last key with prefix) and returns it, or
// nils when there is none. A non-empty prefix must not end in 0xff.
func seekBefore(c *bbolt.Cursor, prefix []byte, after string) (k, v []byte) {
	var end []byte
	switch {
	case after != "":
		end = append(append([]byte(nil), prefix...), after...)
	case len(prefix) > 0:
		// The first key past every key with prefix.
		end = append([]byte(nil), prefix...)
		end[len(end)-1]++
	}
	if end == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// DueDeliveries returns up to limit service requests in the outbox whose
// next_attempt_time is at or before now, earliest first (then by id). It
// reads the outbox index up to now and decodes only the due requests. A
// limit below one returns none.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*epermitv1.ServiceRequest, error) {
	var out []*epermitv1.ServiceRequest
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if limit < 1 {
			return nil
		}
		reqs := tx.Bucket(bucketServiceReqs)
		end := deadlinePrefix(now)
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if len(k) <= 8 {
				return fmt.Errorf("bolt: malformed outbox key %x", k)
			}
			if bytes.Compare(k[:8], end) > 0 {
				break
			}
			id := string(k[8:])
			v := reqs.Get(k[8:])
			if v == nil {
				return fmt.Errorf("bolt: outbox names missing service request %s", id)
			}
			r, err := unmarshalServiceRequest(id, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ServiceRequestEvents returns up to limit events with seq > afterSeq, in
// seq order. A limit below one returns none.
func (s *Store) ServiceRequestEvents(ctx context.Context, afterSeq uint64, limit int) ([]store.ServiceRequestEvent, error) {
	var out []store.ServiceRequestEvent
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if limit < 1 || afterSeq == math.MaxUint64 {
			return nil
		}
		c := tx.Bucket(bucketSREvents).Cursor()
		for k, v := c.Seek(seqKey(afterSeq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("bolt: malformed service request event key %x", k)
			}
			seq := binary.BigEndian.Uint64(k)
			r, err := unmarshalServiceRequest(fmt.Sprintf("of event %d", seq), v)
			if err != nil {
				return err
			}
			out = append(out, store.ServiceRequestEvent{Seq: seq, Request: r})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WriteServiceRequest stores w.Request, its permit index key, its outbox
// key, its event, its request record and its audit entry, after the
// checks that store.Store.WriteServiceRequest lists, all in one
// transaction. The write is durable when it returns nil, unless the store
// was opened with NoSync; then w.Audit holds its seq, prev_hash and hash.
// Before any transaction it refuses a request without an id, an id or
// permit id with a NUL byte, and a version other than w.PrevVersion+1.
func (s *Store) WriteServiceRequest(ctx context.Context, w store.ServiceRequestWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := w.Request
	if r == nil {
		return errors.New("bolt: service request write without a request")
	}
	if err := checkVersionedWrite("service request", r.GetId(), r.GetVersion(), w.PrevVersion); err != nil {
		return err
	}
	if strings.IndexByte(r.GetPermitId(), 0) >= 0 {
		return fmt.Errorf("bolt: service request %s: permit id %q contains a NUL byte", r.GetId(), r.GetPermitId())
	}
	id := []byte(r.GetId())
	data, err := marshalOptions.Marshal(r)
	if err != nil {
		return fmt.Errorf("bolt: marshal service request %s: %w", r.GetId(), err)
	}
	return s.batch(ctx, "write service request "+r.GetId(), func(tx *txn) (refused, err error) {
		reqs := tx.Bucket(bucketServiceReqs)
		reqs.FillPercent = 1 // ids start with their time: appends
		if isDuplicate(tx, w.RequestID) {
			return store.ErrDuplicateRequest, nil
		}
		old, refused, err := checkStored(reqs.Get(id), w.PrevVersion, func(v []byte) (*epermitv1.ServiceRequest, error) {
			return unmarshalServiceRequest(r.GetId(), v)
		})
		if refused != nil || err != nil {
			return refused, err
		}
		var oldPermit, oldOutbox []byte
		if old != nil {
			oldPermit, oldOutbox = srPermitKey(old), outboxKey(old)
		}
		if err := reqs.Put(id, data); err != nil {
			return nil, err
		}
		if err := moveKey(tx.Bucket(bucketSRPermits), oldPermit, srPermitKey(r)); err != nil {
			return nil, err
		}
		if err := moveKey(tx.Bucket(bucketOutbox), oldOutbox, outboxKey(r)); err != nil {
			return nil, err
		}
		if w.Event {
			if err := appendEvent(tx.Tx, data); err != nil {
				return nil, err
			}
		}
		return nil, finishWrite(tx, w.RequestID, encodePendingRequest(kindServiceRequest, w.RequestHash, data), w.Audit)
	})
}

// appendEvent appends the marshalled request data to the event log under
// the seq after the last one (1 for an empty log).
func appendEvent(tx *bbolt.Tx, data []byte) error {
	events := tx.Bucket(bucketSREvents)
	events.FillPercent = 1
	var seq uint64
	if k, _ := events.Cursor().Last(); k != nil {
		if len(k) != 8 {
			return fmt.Errorf("service request event log holds malformed key %x", k)
		}
		seq = binary.BigEndian.Uint64(k)
	}
	return events.Put(seqKey(seq+1), data)
}

// srPermitPrefix is the start of the permit index keys of the service
// requests of a permit: permit id || 0x00.
func srPermitPrefix(permitID string) []byte {
	return append([]byte(permitID), 0)
}

// srPermitKey is the permit index key of a service request: permit id ||
// 0x00 || id; nil for a request without a permit id.
func srPermitKey(r *epermitv1.ServiceRequest) []byte {
	if r.GetPermitId() == "" {
		return nil
	}
	return append(srPermitPrefix(r.GetPermitId()), r.GetId()...)
}

// outboxKey is the outbox key of a service request: its next_attempt_time
// as 8-byte Unix nanoseconds (clamped at zero) || id; nil for a request
// without a next_attempt_time, which is not in the outbox.
func outboxKey(r *epermitv1.ServiceRequest) []byte {
	if r.GetNextAttemptTime() == nil {
		return nil
	}
	return append(deadlinePrefix(r.GetNextAttemptTime().AsTime()), r.GetId()...)
}

// unmarshalServiceRequest decodes the stored service request with this id.
func unmarshalServiceRequest(id string, data []byte) (*epermitv1.ServiceRequest, error) {
	r := new(epermitv1.ServiceRequest)
	if err := proto.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("bolt: decode service request %s: %w", id, err)
	}
	return r, nil
}
