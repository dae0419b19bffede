package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/yrd-epermit/epermit/store"
)

// OutboxStats counts the keys of the outbox index, up to limit, and those
// up to now among them; the first key's time is the earliest due request's.
func (s *Store) OutboxStats(ctx context.Context, now time.Time, limit int) (store.OutboxStats, error) {
	var st store.OutboxStats
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		end := deadlinePrefix(now)
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, _ := c.First(); k != nil && st.Queued < limit; k, _ = c.Next() {
			if len(k) <= 8 {
				return fmt.Errorf("bolt: malformed outbox key %x", k)
			}
			st.Queued++
			if bytes.Compare(k[:8], end) > 0 {
				continue
			}
			if st.Due == 0 {
				st.OldestDue = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
			}
			st.Due++
		}
		return nil
	})
	return st, err
}
