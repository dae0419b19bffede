package bolt

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// claims holds the claims of deliveries in memory. No other process opens
// the file (bbolt locks it), so no one but this store needs to see them,
// and a claim lost with the process only lets its request be claimed
// again sooner, as store.Store allows. Held in the file, every claim was
// a commit on the delivery's path, queued behind the synced commits of
// other writes.
type claims struct {
	mu    sync.Mutex
	holds map[string]hold // by request id
}

// hold is a claim of a request as it was at version, until a time.
type hold struct {
	until   time.Time
	version int64
}

// end ends a hold of a version of the request id before version: the
// request has been written since. A claim of the version written, made
// once that write had committed, stays.
func (c *claims) end(id string, version int64) {
	c.mu.Lock()
	if h, ok := c.holds[id]; ok && h.version < version {
		delete(c.holds, id)
	}
	c.mu.Unlock()
}

// ClaimDeliveries takes up to limit due service requests that no claim
// holds, earliest next_attempt_time first (then by id), and holds each
// until now+lease, as store.Store.ClaimDeliveries says. It reads the
// outbox in a read transaction and keeps the holds in memory (type
// claims); the next write of a request ends its hold. An outbox key's
// value may still hold 8-byte Unix nanoseconds until which an earlier
// version of the store claimed it in the file: such a claim is honoured
// until it runs out, and the request's next write clears it.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*epermitv1.ServiceRequest, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("bolt: claim deliveries: lease %v is not positive", lease)
	}
	if limit < 1 {
		return nil, nil
	}
	s.claims.mu.Lock()
	defer s.claims.mu.Unlock()
	for id, h := range s.claims.holds {
		if !h.until.After(now) {
			delete(s.claims.holds, id)
		}
	}
	var claimed []*epermitv1.ServiceRequest
	end := deadlinePrefix(now)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		outbox, reqs := tx.Bucket(bucketOutbox), tx.Bucket(bucketServiceReqs)
		c := outbox.Cursor()
		for k, v := c.First(); k != nil && len(claimed) < limit; k, v = c.Next() {
			if len(k) <= 8 || (len(v) != 0 && len(v) != 8) {
				return fmt.Errorf("malformed outbox entry %x: %x", k, v)
			}
			if bytes.Compare(k[:8], end) > 0 {
				break
			}
			if len(v) == 8 && bytes.Compare(v, end) > 0 {
				continue // held in the file by an earlier version's claim
			}
			id := string(k[8:])
			if _, held := s.claims.holds[id]; held {
				continue
			}
			data := reqs.Get(k[8:])
			if data == nil {
				return fmt.Errorf("outbox names missing service request %s", id)
			}
			r, err := unmarshalServiceRequest(id, data)
			if err != nil {
				return err
			}
			claimed = append(claimed, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: claim deliveries: %w", err)
	}
	if s.claims.holds == nil {
		s.claims.holds = map[string]hold{}
	}
	for _, r := range claimed {
		s.claims.holds[r.GetId()] = hold{until: now.Add(lease), version: r.GetVersion()}
	}
	return claimed, nil
}

// endClaim clears the hold on the outbox key k, when there is one: a
// write whose request keeps its next_attempt_time keeps its key, and must
// end its claim all the same. A nil k (no key) does nothing.
func endClaim(outbox *bbolt.Bucket, k []byte) error {
	if k == nil || len(outbox.Get(k)) == 0 {
		return nil
	}
	return outbox.Put(k, nil)
}
