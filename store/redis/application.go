package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// listChunk is how many index members one read takes when a filter is
// applied in Go.
const listChunk = 256

// GetApplication returns the application with this id, or
// store.ErrNotFound.
func (s *Store) GetApplication(ctx context.Context, id string) (*epermitv1.Application, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	v, err := s.c.HGet(ctx, s.key("app:"+id), "d").Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: get application %s: %w", id, err)
	}
	return unmarshalApplication(id, v)
}

// appIndex says which index a filter reads: the deadline index (members
// prefixed with the 16-hex-digit deadline) up to OverdueAt, the state
// index, or all applications.
func (s *Store) appIndex(filter store.ApplicationFilter) (index, max string, skip int) {
	switch {
	case !filter.OverdueAt.IsZero():
		return s.key("app_deadlines"), "(" + timePrefix(filter.OverdueAt), 16
	case filter.State != epermitv1.ApplicationState_APPLICATION_STATE_UNSPECIFIED:
		return s.key("app_state:" + strconv.Itoa(int(filter.State))), "+", 0
	}
	return s.key("apps"), "+", 0
}

// ListApplications returns up to limit applications whose id sorts after
// the given id ("" for the start), in id order, that match the filter.
// With filter.OverdueAt set it reads the deadline index up to that time
// (then sorts by id); with filter.State set, the state index; otherwise
// every application after the given id until the page is full. A limit
// below one returns none.
func (s *Store) ListApplications(ctx context.Context, filter store.ApplicationFilter, after string, limit int) ([]*epermitv1.Application, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit < 1 {
		return nil, nil
	}
	var out []*epermitv1.Application
	if !filter.OverdueAt.IsZero() {
		all, err := s.scanApps(ctx, filter, "", 0)
		if err != nil {
			return nil, err
		}
		for _, a := range all {
			if a.GetId() > after && len(out) < limit {
				out = append(out, a)
			}
		}
		return out, nil
	}
	return s.scanApps(ctx, filter, after, limit)
}

// scanApps reads the filter's index from after ("" for the start) in
// chunks and returns the applications that match, up to limit (0 for no
// limit); results from the deadline index are sorted by id.
func (s *Store) scanApps(ctx context.Context, filter store.ApplicationFilter, after string, limit int) ([]*epermitv1.Application, error) {
	index, max, skip := s.appIndex(filter)
	var out []*epermitv1.Application
	from := lexAfter(after)
	for {
		page, err := s.rangeIndex(ctx, index, s.key("app:"), "d", from, max, listChunk, false, skip)
		if err != nil {
			return nil, fmt.Errorf("redis: list applications: %w", err)
		}
		for _, p := range page {
			if p.value == "" {
				return nil, fmt.Errorf("redis: application index names missing application %s", p.member[skip:])
			}
			a, err := unmarshalApplication(p.member[skip:], []byte(p.value))
			if err != nil {
				return nil, err
			}
			if filter.Matches(a) {
				out = append(out, a)
				if limit > 0 && len(out) >= limit {
					return out, nil
				}
			}
		}
		if len(page) < listChunk {
			break
		}
		from = "(" + page[len(page)-1].member
	}
	if skip > 0 {
		sortByID(out)
	}
	return out, nil
}

// sortByID sorts applications by id.
func sortByID(as []*epermitv1.Application) {
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && as[j].GetId() < as[j-1].GetId(); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

// CountApplications returns how many applications match the filter. With
// only OverdueAt, or only State, set it counts index members without
// reading the applications.
func (s *Store) CountApplications(ctx context.Context, filter store.ApplicationFilter) (int, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.leave()
	noState := filter.State == epermitv1.ApplicationState_APPLICATION_STATE_UNSPECIFIED
	noChannel := filter.Channel == epermitv1.ApplicationChannel_APPLICATION_CHANNEL_UNSPECIFIED
	switch {
	case !filter.OverdueAt.IsZero() && noState && noChannel:
		n, err := s.c.ZLexCount(ctx, s.key("app_deadlines"), "-", "("+timePrefix(filter.OverdueAt)).Result()
		return int(n), err
	case filter.OverdueAt.IsZero() && noChannel && !noState:
		n, err := s.c.ZCard(ctx, s.key("app_state:"+strconv.Itoa(int(filter.State)))).Result()
		return int(n), err
	}
	all, err := s.scanApps(ctx, filter, "", 0)
	return len(all), err
}

// WriteApplication stores w.Application, its request record, its index
// members and its audit entry, after the checks that
// store.Store.WriteApplication lists, all in one script. On success
// w.Audit holds its seq, prev_hash and hash. Before any script it refuses
// an application without an id and a version other than
// w.PrevVersion+1.
func (s *Store) WriteApplication(ctx context.Context, w store.ApplicationWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a := w.Application
	if a == nil {
		return errors.New("redis: application write without an application")
	}
	if err := checkVersioned("application", a.GetId(), a.GetVersion(), w.PrevVersion); err != nil {
		return err
	}
	data, err := marshalOptions.Marshal(a)
	if err != nil {
		return fmt.Errorf("redis: marshal application %s: %w", a.GetId(), err)
	}
	deadline := ""
	if a.GetState() == epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED && a.GetDeadline() != nil {
		deadline = timePrefix(a.GetDeadline().AsTime()) + a.GetId()
	}
	var rec []byte
	if w.RequestID != "" {
		rec = store.EncodeRequest(kindApplication, w.RequestHash, data)
	}
	v, err := s.run(ctx, "write application "+a.GetId(), writeApplicationScript, w.Audit,
		a.GetId(), data, strconv.FormatInt(w.PrevVersion, 10), strconv.FormatInt(a.GetVersion(), 10),
		deadline, strconv.Itoa(int(a.GetState())), w.RequestID, rec)
	if err != nil {
		return err
	}
	return refusal(v)
}

// timePrefix is t as 16 hex digits of Unix nanoseconds (clamped at zero),
// so that index members sort by time.
func timePrefix(t time.Time) string {
	return fmt.Sprintf("%016x", uint64(max(t.UnixNano(), 0)))
}

// unmarshalApplication decodes the stored application with this id.
func unmarshalApplication(id string, data []byte) (*epermitv1.Application, error) {
	a := new(epermitv1.Application)
	if err := proto.Unmarshal(data, a); err != nil {
		return nil, fmt.Errorf("redis: decode application %s: %w", id, err)
	}
	return a, nil
}
