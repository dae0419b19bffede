package trust

import (
	"bytes"
	"context"
	"fmt"
)

// Shared is where the replicas of one division (several permitd processes
// on one store) share the newest trust list any of them accepted, so that
// each answers with it even when its own file or URL is behind. store/redis
// implements it. What it holds is never trusted as it is: a Holder
// verifies it with the registry key like a list read from a file.
type Shared interface {
	// SharedTrustList returns the stored signed list, nil when none.
	SharedTrustList(ctx context.Context) ([]byte, error)
	// ShareTrustList stores data if the stored list is still prev (nil
	// for none), in one atomic step, and reports whether it did.
	ShareTrustList(ctx context.Context, data, prev []byte) (bool, error)
}

// sharedBox holds a Holder's Shared.
type sharedBox struct{ s Shared }

// Share makes h keep its list in step with s, now (see Sync) and at every
// poll of Watch and WatchURL from then on.
func (h *Holder) Share(ctx context.Context, s Shared) error {
	h.shared.Store(&sharedBox{s})
	return h.Sync(ctx)
}

// Sync brings h's list and the shared list in step, when Share gave h one:
// a shared list that verifies and has a greater sequence than h's becomes
// h's current list (Load); h's current list replaces, by compare-and-set,
// a shared list of a smaller sequence or one that does not verify (its
// bytes were altered, or it expired). A shared list of the same sequence
// is left alone. A shared list that does not verify is reported as an
// error wrapping the reason (ErrSignature, ErrMalformed, ...), after h's
// list has replaced it; h keeps its list whatever the error.
func (h *Holder) Sync(ctx context.Context) error {
	box := h.shared.Load()
	if box == nil {
		return nil
	}
	data, err := box.s.SharedTrustList(ctx)
	if err != nil {
		return fmt.Errorf("trust: reading the shared list: %w", err)
	}
	var refused error
	replace := data == nil
	if data != nil {
		l, err := Verify(data, h.registry, h.clock())
		cur := h.cur.Load()
		switch {
		case err != nil:
			refused, replace = fmt.Errorf("trust: the shared list was refused: %w", err), true
		case cur == nil || l.Sequence > cur.list.Sequence:
			if err := h.Load(data); err != nil {
				return fmt.Errorf("trust: the shared list: %w", err)
			}
		case l.Sequence < cur.list.Sequence:
			replace = true
		}
	}
	if cur := h.cur.Load(); replace && cur != nil && !bytes.Equal(cur.raw, data) {
		if _, err := box.s.ShareTrustList(ctx, cur.raw, data); err != nil {
			return fmt.Errorf("trust: sharing the list: %w", err)
		}
	}
	return refused
}
