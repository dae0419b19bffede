package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// GetPending returns the pending cancellation with this id, or
// store.ErrNoPending.
func (s *Store) GetPending(ctx context.Context, id string) (*epermitv1.PendingCancellation, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	v, err := s.c.HGet(ctx, s.key("pending:"+id), "d").Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, store.ErrNoPending
	}
	if err != nil {
		return nil, fmt.Errorf("redis: get pending cancellation %s: %w", id, err)
	}
	return unmarshalPending(id, v)
}

// ListPending returns every pending cancellation, oldest request first
// (by request time, then id), read in one script.
func (s *Store) ListPending(ctx context.Context) ([]*epermitv1.PendingCancellation, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	vs, err := listPendingScript.Run(ctx, s.c, []string{s.key("pendings")}, s.prefix).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: list pending cancellations: %w", err)
	}
	out := make([]*epermitv1.PendingCancellation, 0, len(vs))
	for _, v := range vs {
		if v == "" {
			return nil, errors.New("redis: the set of pending cancellations names a missing one")
		}
		pc, err := unmarshalPending("in list", []byte(v))
		if err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	store.SortPending(out)
	return out, nil
}

// WritePending adds or removes one pending cancellation with its request
// record and audit entry, after the checks that store.Store.WritePending
// lists, all in one script. A Put whose pending id is taken (by a
// cancellation of another permit) is refused with store.ErrConflict. On
// success w.Audit holds its seq, prev_hash and hash. Before any script it
// refuses a write that sets both or neither of Put and Delete, and a Put
// without an id or a permit id.
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
			return fmt.Errorf("redis: marshal pending cancellation %s: %w", w.Put.GetId(), err)
		}
	}
	mode, id, rec := "delete", w.Delete, store.EncodeRequest(kindPendingRemoved, w.RequestHash, nil)
	if w.Put != nil {
		mode, id, rec = "put", w.Put.GetId(), store.EncodeRequest(kindPendingAdded, w.RequestHash, data)
	}
	v, err := s.run(ctx, "write pending cancellation "+id, writePendingScript, w.Audit,
		mode, id, w.Put.GetPermitId(), strconv.FormatInt(w.Put.GetPermitVersion(), 10), data, w.RequestID, rec)
	if err != nil {
		return err
	}
	return refusal(v)
}

// unmarshalPending decodes the stored pending cancellation with this id.
func unmarshalPending(id string, data []byte) (*epermitv1.PendingCancellation, error) {
	pc := new(epermitv1.PendingCancellation)
	if err := proto.Unmarshal(data, pc); err != nil {
		return nil, fmt.Errorf("redis: decode pending cancellation %s: %w", id, err)
	}
	return pc, nil
}
