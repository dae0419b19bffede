package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// GetPermit returns the permit with this id, or store.ErrNotFound.
func (s *Store) GetPermit(ctx context.Context, id string) (*epermitv1.Permit, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	v, err := s.c.HGet(ctx, s.key("permit:"+id), "d").Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: get permit %s: %w", id, err)
	}
	return unmarshalPermit(id, v)
}

// ListPermits returns up to limit permits whose id sorts after the given
// id ("" for the start), in id order, that match the filter. It reads the
// index of all permits, or the citizen's, one page at a time in one
// script with the permits it names. A limit below one returns none.
func (s *Store) ListPermits(ctx context.Context, filter store.PermitFilter, after string, limit int) ([]*epermitv1.Permit, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit < 1 {
		return nil, nil
	}
	index := s.key("permits")
	if filter.CitizenID != "" {
		index = s.key("citizen:" + filter.CitizenID)
	}
	page, err := s.rangeIndex(ctx, index, s.key("permit:"), "d", lexAfter(after), "+", limit, false, 0)
	if err != nil {
		return nil, fmt.Errorf("redis: list permits: %w", err)
	}
	out := make([]*epermitv1.Permit, 0, len(page))
	for _, p := range page {
		if p.value == "" {
			return nil, fmt.Errorf("redis: permit index names missing permit %s", p.member)
		}
		pm, err := unmarshalPermit(p.member, []byte(p.value))
		if err != nil {
			return nil, err
		}
		out = append(out, pm)
	}
	return out, nil
}

// Replay returns what the write with this request id recorded, or
// store.ErrNotFound when no write carried it.
func (s *Store) Replay(ctx context.Context, requestID string) (*store.Replayed, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	v, err := s.c.Get(ctx, s.key("req:"+requestID)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: replay %q: %w", requestID, err)
	}
	kind, hash, body, err := store.DecodeRequest(v)
	if err != nil {
		return nil, fmt.Errorf("redis: request %q: %w", requestID, err)
	}
	r := &store.Replayed{RequestHash: hash}
	what := "of request " + requestID
	switch kind {
	case kindPermit:
		r.Permit, err = unmarshalPermit(what, body)
	case kindPendingAdded, kindPendingRemoved:
		r.Pending, err = unmarshalPending(what, body)
	case kindApplication:
		r.Application, err = unmarshalApplication(what, body)
	case kindServiceRequest:
		r.ServiceRequest, err = unmarshalServiceRequest(what, body)
	default:
		err = fmt.Errorf("redis: request %q: unknown record kind %d", requestID, kind)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// WritePermit stores w.Permit, its request record and its audit entry, and
// removes the pending cancellation it resolves, after the checks that
// store.Store.WritePermit lists, all in one script. When w.ResolvePending
// names a pending cancellation that does not exist or is not of this
// permit, it returns store.ErrNoPending. On success w.Audit holds its seq,
// prev_hash and hash. The same script sets the permit's entry in the
// division's status list (StatusList) when the permit has a status index.
// Before any script it refuses a permit without an id or a holder citizen
// id, a version other than w.PrevVersion+1, and a status index beyond the
// largest list.
func (s *Store) WritePermit(ctx context.Context, w store.PermitWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	args, err := permitArgs(w)
	if err != nil {
		return err
	}
	v, err := s.run(ctx, "write permit "+w.Permit.GetId(), writePermitScript, w.Audit, args...)
	if err != nil {
		return err
	}
	return refusal(v)
}

// unmarshalPermit decodes the stored permit with this id.
func unmarshalPermit(id string, data []byte) (*epermitv1.Permit, error) {
	p := new(epermitv1.Permit)
	if err := proto.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("redis: decode permit %s: %w", id, err)
	}
	return p, nil
}
