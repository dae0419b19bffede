package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// GetApplication returns the application with this id, or
// store.ErrNotFound.
func (s *Store) GetApplication(ctx context.Context, id string) (*epermitv1.Application, error) {
	return getValue(ctx, s, bucketApplications, id, store.ErrNotFound, unmarshalApplication)
}

// ListApplications returns up to limit applications whose id sorts after
// the given id ("" for the start), in id order, that match the filter. With
// filter.OverdueAt set it reads the deadline index up to that time and
// decodes only the overdue applications; with filter.State set it reads
// the state index and decodes only the applications in that state;
// otherwise it decodes every application after the given id until the
// page is full. A limit below one returns none.
func (s *Store) ListApplications(ctx context.Context, filter store.ApplicationFilter, after string, limit int) ([]*epermitv1.Application, error) {
	var out []*epermitv1.Application
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if limit < 1 {
			return nil
		}
		apps := tx.Bucket(bucketApplications)
		if !filter.OverdueAt.IsZero() {
			ids := overdueIDs(tx, filter.OverdueAt, after)
			for _, id := range ids {
				if len(out) >= limit {
					break
				}
				v := apps.Get([]byte(id))
				if v == nil {
					return fmt.Errorf("bolt: deadline index names missing application %s", id)
				}
				a, err := unmarshalApplication(id, v)
				if err != nil {
					return err
				}
				if filter.Matches(a) {
					out = append(out, a)
				}
			}
			return nil
		}
		if filter.State != epermitv1.ApplicationState_APPLICATION_STATE_UNSPECIFIED {
			prefix := []byte{byte(filter.State)}
			c := tx.Bucket(bucketAppStates).Cursor()
			for k, _ := seekAfter(c, prefix, after); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
				id := string(k[1:])
				v := apps.Get(k[1:])
				if v == nil {
					return fmt.Errorf("bolt: state index names missing application %s", id)
				}
				a, err := unmarshalApplication(id, v)
				if err != nil {
					return err
				}
				if filter.Matches(a) {
					out = append(out, a)
				}
			}
			return nil
		}
		c := apps.Cursor()
		for k, v := seekAfter(c, nil, after); k != nil && len(out) < limit; k, v = c.Next() {
			a, err := unmarshalApplication(string(k), v)
			if err != nil {
				return err
			}
			if filter.Matches(a) {
				out = append(out, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CountApplications returns how many applications match the filter. With
// only OverdueAt, or only State, set it counts index keys without decoding.
func (s *Store) CountApplications(ctx context.Context, filter store.ApplicationFilter) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		onlyOverdue := !filter.OverdueAt.IsZero() &&
			filter.State == epermitv1.ApplicationState_APPLICATION_STATE_UNSPECIFIED &&
			filter.Channel == epermitv1.ApplicationChannel_APPLICATION_CHANNEL_UNSPECIFIED
		if onlyOverdue {
			n = len(overdueIDs(tx, filter.OverdueAt, ""))
			return nil
		}
		if filter.OverdueAt.IsZero() && filter.Channel == epermitv1.ApplicationChannel_APPLICATION_CHANNEL_UNSPECIFIED &&
			filter.State != epermitv1.ApplicationState_APPLICATION_STATE_UNSPECIFIED {
			prefix := []byte{byte(filter.State)}
			c := tx.Bucket(bucketAppStates).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				n++
			}
			return nil
		}
		return tx.Bucket(bucketApplications).ForEach(func(k, v []byte) error {
			a, err := unmarshalApplication(string(k), v)
			if err == nil && filter.Matches(a) {
				n++
			}
			return err
		})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// seekAfter positions c at the first key with prefix that sorts after
// prefix || after ("" for the first key with prefix), and returns it.
func seekAfter(c *bbolt.Cursor, prefix []byte, after string) (k, v []byte) {
	start := append(slices.Clip(prefix), after...)
	k, v = c.Seek(start)
	if after != "" && k != nil && bytes.Equal(k, start) {
		k, v = c.Next()
	}
	return k, v
}

// overdueIDs returns the ids, sorted, after the given one, of the
// applications in the deadline index whose deadline is before t.
func overdueIDs(tx *bbolt.Tx, t time.Time, after string) []string {
	var ids []string
	limit := deadlinePrefix(t)
	c := tx.Bucket(bucketDeadlines).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:min(len(k), 8)], limit) < 0; k, _ = c.Next() {
		if len(k) <= 8 {
			continue
		}
		if id := string(k[8:]); id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// WriteApplication stores w.Application, its request record, its deadline
// index key and its audit entry, after the checks that
// store.Store.WriteApplication lists, all in one transaction. The write is
// durable when it returns nil, unless the store was opened with NoSync;
// then w.Audit holds its seq, prev_hash and hash. Before any transaction it
// refuses an application without an id or with a NUL byte in it, and a
// version other than w.PrevVersion+1.
func (s *Store) WriteApplication(ctx context.Context, w store.ApplicationWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a := w.Application
	if a == nil {
		return errors.New("bolt: application write without an application")
	}
	if err := checkVersionedWrite("application", a.GetId(), a.GetVersion(), w.PrevVersion); err != nil {
		return err
	}
	id := []byte(a.GetId())
	data, err := marshalOptions.Marshal(a)
	if err != nil {
		return fmt.Errorf("bolt: marshal application %s: %w", a.GetId(), err)
	}
	return s.batch(ctx, "write application "+a.GetId(), func(tx *bbolt.Tx) (refused, err error) {
		apps := tx.Bucket(bucketApplications)
		apps.FillPercent = 1 // ids start with their time: appends
		if isDuplicate(tx, w.RequestID) {
			return store.ErrDuplicateRequest, nil
		}
		old, refused, err := checkStored(apps.Get(id), w.PrevVersion, func(v []byte) (*epermitv1.Application, error) {
			return unmarshalApplication(a.GetId(), v)
		})
		if refused != nil || err != nil {
			return refused, err
		}
		var oldKey, oldState []byte
		if old != nil {
			oldKey, oldState = deadlineKey(old), stateKey(old)
		}
		if err := apps.Put(id, data); err != nil {
			return nil, err
		}
		if err := moveKey(tx.Bucket(bucketDeadlines), oldKey, deadlineKey(a)); err != nil {
			return nil, err
		}
		if err := moveKey(tx.Bucket(bucketAppStates), oldState, stateKey(a)); err != nil {
			return nil, err
		}
		return nil, finishWrite(tx, w.RequestID, encodePendingRequest(kindApplication, w.RequestHash, data), w.Audit)
	})
}

// deadlineKey is the deadline index key of an application whose deadline
// runs (ACCEPTED with a deadline), nil for any other.
func deadlineKey(a *epermitv1.Application) []byte {
	if a.GetState() != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED || a.GetDeadline() == nil {
		return nil
	}
	return append(deadlinePrefix(a.GetDeadline().AsTime()), a.GetId()...)
}

// stateKey is the state index key of an application: its state as one
// byte || its id.
func stateKey(a *epermitv1.Application) []byte {
	return append([]byte{byte(a.GetState())}, a.GetId()...)
}

// deadlinePrefix is the 8-byte big-endian Unix time in nanoseconds of t
// (clamped at zero), so that keys sort by time.
func deadlinePrefix(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(max(t.UnixNano(), 0)))
}

// unmarshalApplication decodes the stored application with this id.
func unmarshalApplication(id string, data []byte) (*epermitv1.Application, error) {
	a := new(epermitv1.Application)
	if err := proto.Unmarshal(data, a); err != nil {
		return nil, fmt.Errorf("bolt: decode application %s: %w", id, err)
	}
	return a, nil
}
