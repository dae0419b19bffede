package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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
// for the newest). With filter.PermitID set it decodes only the requests
// that the in-memory permit index names; otherwise it decodes every
// request from the newest down until the page is full, so a filter on
// state, department or create time that few requests pass reads many. A
// limit below one returns none.
func (s *Store) ListServiceRequests(ctx context.Context, filter store.ServiceRequestFilter, after string, limit int) ([]*epermitv1.ServiceRequest, error) {
	var out []*epermitv1.ServiceRequest
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if limit < 1 {
			return nil
		}
		reqs := tx.Bucket(bucketServiceReqs)
		keep := func(id string, v []byte) error {
			r, err := unmarshalServiceRequest(id, v)
			if err == nil && filter.Matches(r) {
				out = append(out, r)
			}
			return err
		}
		if filter.PermitID != "" {
			// Read after the transaction began: see permitRequests.
			for _, id := range s.srPermits.before(filter.PermitID, after) {
				if len(out) >= limit {
					break
				}
				// Missing: its write failed, or is after this snapshot.
				if v := reqs.Get([]byte(id)); v != nil {
					if err := keep(id, v); err != nil {
						return err
					}
				}
			}
			return nil
		}
		c, n := reqs.Cursor(), 0
		for k, v := seekBefore(c, after); k != nil && len(out) < limit; k, v = c.Prev() {
			if err := pollCtx(ctx, &n); err != nil {
				return err
			}
			if err := keep(string(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// seekBefore positions c at the last key that sorts before after (after
// "": the last key) and returns it, or nils when there is none.
func seekBefore(c *bbolt.Cursor, after string) (k, v []byte) {
	if after == "" {
		return c.Last()
	}
	if k, _ = c.Seek([]byte(after)); k == nil {
		return c.Last()
	}
	return c.Prev()
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

// ServiceRequestEventHead implements store.Store.ServiceRequestEventHead.
func (s *Store) ServiceRequestEventHead(ctx context.Context) (uint64, error) {
	var head uint64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketSREvents).Cursor().Last(); len(k) == 8 {
			head = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return head, err
}

// WriteServiceRequest stores w.Request, its outbox key (without a
// claim), its event, its request record and its audit entry, after the checks that
// store.Store.WriteServiceRequest lists, all in one transaction, and adds
// it to the in-memory permit index. The write is
// durable when it returns nil, unless the store was opened with NoSync;
// then w.Audit holds its seq, prev_hash and hash. Before any transaction
// it refuses a request without an id or with a NUL byte in it, and a
// version other than w.PrevVersion+1.
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
	id := []byte(r.GetId())
	data, err := marshalOptions.Marshal(r)
	if err != nil {
		return fmt.Errorf("bolt: marshal service request %s: %w", r.GetId(), err)
	}
	err = s.batch(ctx, "write service request "+r.GetId(), func(tx *bbolt.Tx) (refused, err error) {
		reqs := tx.Bucket(bucketServiceReqs)
		reqs.FillPercent = 1 // ids start with their time: appends
		if isDuplicate(tx, w.RequestID) {
			return store.ErrDuplicateRequest, nil
		}
		old, refused, err := checkStored(reqs.Get(id), w.PrevVersion, func(v []byte) (*epermitv1.ServiceRequest, error) {
			return serviceRequestHead(r.GetId(), v)
		})
		if refused != nil || err != nil {
			return refused, err
		}
		var oldOutbox []byte
		if old != nil {
			oldOutbox = outboxKey(old)
		}
		if err := reqs.Put(id, data); err != nil {
			return nil, err
		}
		// Before the commit: see permitRequests.
		s.srPermits.add(r.GetPermitId(), r.GetId())
		outbox, newOutbox := tx.Bucket(bucketOutbox), outboxKey(r)
		if err := moveKey(outbox, oldOutbox, newOutbox); err != nil {
			return nil, err
		}
		if err := endClaim(outbox, newOutbox); err != nil {
			return nil, err
		}
		if w.Event {
			if err := appendEvent(tx, data); err != nil {
				return nil, err
			}
		}
		return nil, finishWrite(tx, w.RequestID, encodePendingRequest(kindServiceRequest, w.RequestHash, data), w.Audit)
	})
	if err == nil {
		s.claims.end(r.GetId(), r.GetVersion()) // the write ends the claims made before it
	}
	return err
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

// outboxKey is the outbox key of a service request: its next_attempt_time
// as 8-byte Unix nanoseconds (clamped at zero) || id; nil for a request
// without a next_attempt_time, which is not in the outbox.
func outboxKey(r *epermitv1.ServiceRequest) []byte {
	if r.GetNextAttemptTime() == nil {
		return nil
	}
	return append(deadlinePrefix(r.GetNextAttemptTime().AsTime()), r.GetId()...)
}

// Field numbers of what a write checks of a stored request.
var (
	srFields        = (&epermitv1.ServiceRequest{}).ProtoReflect().Descriptor().Fields()
	srVersion       = srFields.ByName("version").Number()
	srNextAttemptAt = srFields.ByName("next_attempt_time").Number()
)

// serviceRequestHead decodes only what a write checks of the stored
// request with this id, its version and when it is due, and skips the
// rest (history, conditions, fields): the check runs inside the shared
// commit, where every microsecond holds up the other writes.
func serviceRequestHead(id string, data []byte) (*epermitv1.ServiceRequest, error) {
	out := &epermitv1.ServiceRequest{Id: id}
	bad := func() (*epermitv1.ServiceRequest, error) {
		return nil, fmt.Errorf("bolt: decode service request %s: malformed", id)
	}
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return bad()
		}
		data = data[n:]
		switch {
		case num == srVersion && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return bad()
			}
			out.Version, data = int64(v), data[n:]
		case num == srNextAttemptAt && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return bad()
			}
			ts := new(timestamppb.Timestamp)
			if err := proto.Unmarshal(b, ts); err != nil {
				return bad()
			}
			out.NextAttemptTime, data = ts, data[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return bad()
			}
			data = data[n:]
		}
	}
	return out, nil
}

// unmarshalServiceRequest decodes the stored service request with this id.
func unmarshalServiceRequest(id string, data []byte) (*epermitv1.ServiceRequest, error) {
	r := new(epermitv1.ServiceRequest)
	if err := proto.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("bolt: decode service request %s: %w", id, err)
	}
	return r, nil
}
