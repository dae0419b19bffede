package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// GetServiceRequest returns the service request with this id, or
// store.ErrNotFound.
func (s *Store) GetServiceRequest(ctx context.Context, id string) (*epermitv1.ServiceRequest, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	v, err := s.c.HGet(ctx, s.key("sr:"+id), "d").Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: get service request %s: %w", id, err)
	}
	return unmarshalServiceRequest(id, v)
}

// ListServiceRequests returns up to limit service requests that match the
// filter, newest first (descending id), starting after the given id (""
// for the newest). With filter.PermitID set it reads the permit's index;
// otherwise the index of every request, from the newest down until the
// page is full. A limit below one returns none.
func (s *Store) ListServiceRequests(ctx context.Context, filter store.ServiceRequestFilter, after string, limit int) ([]*epermitv1.ServiceRequest, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit < 1 {
		return nil, nil
	}
	index := s.key("srs")
	if filter.PermitID != "" {
		index = s.key("sr_permit:" + filter.PermitID)
	}
	var out []*epermitv1.ServiceRequest
	from := lexBefore(after)
	for {
		page, err := s.rangeIndex(ctx, index, s.key("sr:"), "d", from, "-", listChunk, true, 0)
		if err != nil {
			return nil, fmt.Errorf("redis: list service requests: %w", err)
		}
		for _, p := range page {
			if p.value == "" {
				return nil, fmt.Errorf("redis: service request index names missing request %s", p.member)
			}
			r, err := unmarshalServiceRequest(p.member, []byte(p.value))
			if err != nil {
				return nil, err
			}
			if filter.Matches(r) {
				out = append(out, r)
				if len(out) >= limit {
					return out, nil
				}
			}
		}
		if len(page) < listChunk {
			return out, nil
		}
		from = "(" + page[len(page)-1].member
	}
}

// ServiceRequestEvents returns up to limit events with seq > afterSeq, in
// seq order, reading the log up to its head, auditChunk events a command.
// A limit below one returns none.
func (s *Store) ServiceRequestEvents(ctx context.Context, afterSeq uint64, limit int) ([]store.ServiceRequestEvent, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit < 1 || afterSeq == math.MaxUint64 {
		return nil, nil
	}
	head, err := s.eventHead(ctx)
	if err != nil || afterSeq >= head {
		return nil, err
	}
	last := head
	if uint64(limit) < head-afterSeq {
		last = afterSeq + uint64(limit)
	}
	out := make([]store.ServiceRequestEvent, 0, min(last-afterSeq, auditChunk))
	for from := afterSeq + 1; from <= last; from += auditChunk {
		to := min(last, from+auditChunk-1)
		fields := make([]string, 0, to-from+1)
		for seq := from; seq <= to; seq++ {
			fields = append(fields, strconv.FormatUint(seq, 10))
		}
		vs, err := s.c.HMGet(ctx, s.key("sr_events"), fields...).Result()
		if err != nil {
			return nil, fmt.Errorf("redis: read service request events: %w", err)
		}
		for i, v := range vs {
			seq := from + uint64(i)
			str, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("redis: service request event %d is missing", seq)
			}
			r, err := unmarshalServiceRequest(fmt.Sprintf("of event %d", seq), []byte(str))
			if err != nil {
				return nil, err
			}
			out = append(out, store.ServiceRequestEvent{Seq: seq, Request: r})
		}
	}
	return out, nil
}

// ServiceRequestEventHead returns the seq of the last event, 0 when there
// is none.
func (s *Store) ServiceRequestEventHead(ctx context.Context) (uint64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.leave()
	return s.eventHead(ctx)
}

// eventHead reads the seq of the last event.
func (s *Store) eventHead(ctx context.Context) (uint64, error) {
	v, err := s.c.Get(ctx, s.key("sr_events:head")).Uint64()
	if isNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis: read service request event head: %w", err)
	}
	return v, nil
}

// WriteServiceRequest stores w.Request, its outbox member, its permit
// index member, its event, its request record and its audit entry, after
// the checks that store.Store.WriteServiceRequest lists, all in one
// script, as durable as the server's appendfsync setting makes it. On
// success w.Audit holds its
// seq, prev_hash and hash. Before any script it refuses a request without
// an id and a version other than w.PrevVersion+1.
func (s *Store) WriteServiceRequest(ctx context.Context, w store.ServiceRequestWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := w.Request
	if r == nil {
		return errors.New("redis: service request write without a request")
	}
	if err := checkVersioned("service request", r.GetId(), r.GetVersion(), w.PrevVersion); err != nil {
		return err
	}
	data, err := marshalOptions.Marshal(r)
	if err != nil {
		return fmt.Errorf("redis: marshal service request %s: %w", r.GetId(), err)
	}
	outbox := ""
	if r.GetNextAttemptTime() != nil {
		outbox = timePrefix(r.GetNextAttemptTime().AsTime()) + r.GetId()
	}
	event := "0"
	if w.Event {
		event = "1"
	}
	var rec []byte
	if w.RequestID != "" {
		rec = store.EncodeRequest(kindServiceRequest, w.RequestHash, data)
	}
	v, err := s.run(ctx, "write service request "+r.GetId(), writeServiceRequestScript, w.Audit,
		r.GetId(), data, strconv.FormatInt(w.PrevVersion, 10), strconv.FormatInt(r.GetVersion(), 10),
		outbox, r.GetPermitId(), event, w.RequestID, rec)
	if err != nil {
		return err
	}
	return refusal(v)
}

// unmarshalServiceRequest decodes the stored service request with this id.
func unmarshalServiceRequest(id string, data []byte) (*epermitv1.ServiceRequest, error) {
	r := new(epermitv1.ServiceRequest)
	if err := proto.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("redis: decode service request %s: %w", id, err)
	}
	return r, nil
}
