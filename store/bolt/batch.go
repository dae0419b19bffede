package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/yrd-epermit/epermit/store"
)

// WritePermits makes the writes of ws in one call into the commit loop,
// so in one transaction and one fsync, each with the checks of
// WritePermit, in order; see store.Store.WritePermits. A refusal leaves
// the transaction to the others. A storage failure rolls the whole
// transaction back, so none of ws is written; the commit loop then runs
// the other waiting writes again without it. Before any transaction it
// refuses the whole call when a write has the mistakes WritePermit
// refuses before its transaction.
func (s *Store) WritePermits(ctx context.Context, ws []store.PermitWrite) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	changes := make([]*change, len(ws))
	for i, w := range ws {
		c, err := newChange(w)
		if err != nil {
			return nil, fmt.Errorf("write %d of %d: %w", i+1, len(ws), err)
		}
		changes[i] = c
	}
	refusals := make([]error, len(ws))
	err := s.batch(ctx, fmt.Sprintf("write %d permits", len(ws)), func(tx *bbolt.Tx) (error, error) {
		// The loop may run this again after a failure: every outcome is
		// decided afresh.
		for i, c := range changes {
			refused, err := c.apply(tx)
			if err != nil {
				return nil, err
			}
			refusals[i] = refused
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return refusals, nil
}
