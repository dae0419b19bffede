package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// GetPending returns the pending cancellation with this id, or
// store.ErrNoPending.
func (s *Store) GetPending(ctx context.Context, id string) (*epermitv1.PendingCancellation, error) {
	return getValue(ctx, s, bucketPending, id, store.ErrNoPending, unmarshalPending)
}

// ListPending returns every pending cancellation, oldest request first
// (by request time, then id).
func (s *Store) ListPending(ctx context.Context) ([]*epermitv1.PendingCancellation, error) {
	var out []*epermitv1.PendingCancellation
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			pc, err := unmarshalPending(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, pc)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	store.SortPending(out)
	return out, nil
}

// WritePending adds or removes one pending cancellation with its request
// record and audit entry, after the checks that store.Store.WritePending
// lists, all in one transaction. A Put whose pending id is taken (by a
// cancellation of another permit) is refused with store.ErrConflict. The
// write is durable when it returns nil, unless the store was opened with
// NoSync; then w.Audit holds its seq, prev_hash and hash. Before any
// transaction it refuses a write that sets both or neither of Put and
// Delete, and a Put without an id or a permit id.
func (s *Store) WritePending(ctx context.Context, w store.PendingWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.Check(); err != nil {
		return err
	}
	var data []byte
	if w.Put != nil {
		var err error
		if data, err = marshalOptions.Marshal(w.Put); err != nil {
			return fmt.Errorf("bolt: marshal pending cancellation %s: %w", w.Put.GetId(), err)
		}
	}
	id := w.Delete
	if w.Put != nil {
		id = w.Put.GetId()
	}
	return s.batch(ctx, "write pending cancellation "+id, func(tx *bbolt.Tx) (refused, err error) {
		requests := tx.Bucket(bucketRequests)
		if w.RequestID != "" && requests.Get([]byte(w.RequestID)) != nil {
			return store.ErrDuplicateRequest, nil
		}
		var rec []byte
		if w.Put != nil {
			if refused, err := checkPut(tx, w.Put); refused != nil || err != nil {
				return refused, err
			}
			if err := putPending(tx, w.Put, data); err != nil {
				return nil, err
			}
			rec = encodePendingRequest(kindPendingAdded, w.RequestHash, data)
		} else {
			v := tx.Bucket(bucketPending).Get([]byte(w.Delete))
			if v == nil {
				return store.ErrNoPending, nil
			}
			pc, err := unmarshalPending(w.Delete, v)
			if err != nil {
				return nil, err
			}
			// Recorded before the delete: v is invalid once its page changes.
			rec = encodePendingRequest(kindPendingRemoved, w.RequestHash, v)
			if err := deletePending(tx, w.Delete, pc.GetPermitId()); err != nil {
				return nil, err
			}
		}
		if w.RequestID != "" {
			if err := requests.Put([]byte(w.RequestID), rec); err != nil {
				return nil, err
			}
		}
		if w.Audit != nil {
			if err := appendAudit(tx, w.Audit); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// checkPut decides whether pc may be added: its permit exists at the
// version it names, and neither the permit nor the id has a pending
// cancellation yet.
func checkPut(tx *bbolt.Tx, pc *epermitv1.PendingCancellation) (refused, err error) {
	_, v := currentPermit(tx.Bucket(bucketPermits).Cursor(), pc.GetPermitId())
	if v == nil {
		return store.ErrNotFound, nil
	}
	p, err := unmarshalPermit(pc.GetPermitId(), v)
	if err != nil {
		return nil, err
	}
	if p.GetVersion() != pc.GetPermitVersion() {
		return store.ErrConflict, nil
	}
	if other := tx.Bucket(bucketPendingPermits).Get([]byte(pc.GetPermitId())); other != nil {
		return &store.PendingExistsError{PendingID: string(other)}, nil
	}
	if tx.Bucket(bucketPending).Get([]byte(pc.GetId())) != nil {
		return store.ErrConflict, nil
	}
	return nil, nil
}

// putPending stores pc, marshalled as data, and indexes it by permit.
func putPending(tx *bbolt.Tx, pc *epermitv1.PendingCancellation, data []byte) error {
	if err := tx.Bucket(bucketPending).Put([]byte(pc.GetId()), data); err != nil {
		return err
	}
	return tx.Bucket(bucketPendingPermits).Put([]byte(pc.GetPermitId()), []byte(pc.GetId()))
}

// deletePending removes the pending cancellation id of permitID and its
// index key.
func deletePending(tx *bbolt.Tx, id, permitID string) error {
	if err := tx.Bucket(bucketPending).Delete([]byte(id)); err != nil {
		return err
	}
	return tx.Bucket(bucketPendingPermits).Delete([]byte(permitID))
}

// unmarshalPending decodes the stored pending cancellation with this id.
func unmarshalPending(id string, data []byte) (*epermitv1.PendingCancellation, error) {
	pc := new(epermitv1.PendingCancellation)
	if err := proto.Unmarshal(data, pc); err != nil {
		return nil, fmt.Errorf("bolt: decode pending cancellation %s: %w", id, err)
	}
	return pc, nil
}
