package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// ClaimDeliveries takes up to limit due service requests that no claim
// holds, earliest next_attempt_time first (then by id), and holds each
// until now+lease, as store.Store.ClaimDeliveries says. The hold is the
// value of the request's outbox key: 8-byte Unix nanoseconds (clamped at
// zero) until which it is held; empty for none. The key stays where it is,
// so the request keeps its place, and the next write of the request, which
// deletes or rewrites its key, ends the hold. The claim runs in the commit
// loop as a lazy write (committed without fdatasync): a claim lost in a
// crash only lets the request be claimed again sooner. The requests are
// decoded after the commit, which holds up the writes sharing it for no
// more than copying their bytes.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*epermitv1.ServiceRequest, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("bolt: claim deliveries: lease %v is not positive", lease)
	}
	if limit < 1 {
		return nil, nil
	}
	var ids []string
	var data [][]byte
	end := deadlinePrefix(now)
	until := deadlinePrefix(now.Add(lease))
	err := s.batchMaybeLazy(ctx, "claim deliveries", true, func(tx *bbolt.Tx) (refused, err error) {
		ids, data = ids[:0], data[:0]
		outbox, reqs := tx.Bucket(bucketOutbox), tx.Bucket(bucketServiceReqs)
		var keys [][]byte
		c := outbox.Cursor()
		for k, v := c.First(); k != nil && len(keys) < limit; k, v = c.Next() {
			if len(k) <= 8 || (len(v) != 0 && len(v) != 8) {
				return nil, fmt.Errorf("malformed outbox entry %x: %x", k, v)
			}
			if bytes.Compare(k[:8], end) > 0 {
				break
			}
			if len(v) == 8 && bytes.Compare(v, end) > 0 {
				continue // held by a claim that has not run out
			}
			r := reqs.Get(k[8:])
			if r == nil {
				return nil, fmt.Errorf("outbox names missing service request %s", k[8:])
			}
			keys = append(keys, bytes.Clone(k))
			ids = append(ids, string(k[8:]))
			data = append(data, bytes.Clone(r))
		}
		// Changed after the scan: a put may move the cursor's pages.
		for _, k := range keys {
			if err := outbox.Put(k, until); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*epermitv1.ServiceRequest, len(ids))
	for i, id := range ids {
		if out[i], err = unmarshalServiceRequest(id, data[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
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
