package bolt

import (
	"context"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// This file holds what the reads and writes of values that keep only
// their current state (applications, service requests, pending
// cancellations) share.

// versioned is a stored value with a version.
type versioned interface {
	comparable
	GetVersion() int64
}

// checkVersionedWrite refuses, before any transaction, a write of a value
// of this kind without an id, with a NUL byte in its id, or with a version
// other than prev+1.
func checkVersionedWrite(kind, id string, version, prev int64) error {
	switch {
	case id == "":
		return fmt.Errorf("bolt: %s has no id", kind)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("bolt: %s id %q contains a NUL byte", kind, id)
	case prev < 0 || version != prev+1:
		return fmt.Errorf("bolt: %s %s: version %d does not follow previous version %d", kind, id, version, prev)
	}
	return nil
}

// checkStored decides a write computed from version prev against v, the
// value stored under its id (nil for none), which decode reads. It returns
// the stored value (the zero T when there is none), or the refusal:
// store.ErrNotFound when prev > 0 and there is none, store.ErrConflict when
// there is one and prev is 0 or not its version. err is a storage failure.
func checkStored[T versioned](v []byte, prev int64, decode func([]byte) (T, error)) (old T, refused, err error) {
	var none T
	switch {
	case v == nil && prev > 0:
		return none, store.ErrNotFound, nil
	case v == nil:
		return none, nil, nil
	case prev == 0:
		return none, store.ErrConflict, nil
	}
	if old, err = decode(v); err != nil {
		return none, nil, err
	}
	if old.GetVersion() != prev {
		return none, store.ErrConflict, nil
	}
	return old, nil, nil
}

// getValue returns the value stored under id in bucket, decoded, or
// missing when there is none, from a read-only transaction of s.
func getValue[T any](ctx context.Context, s *Store, bucket []byte, id string, missing error, decode func(id string, data []byte) (T, error)) (T, error) {
	var out T
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(id))
		if v == nil {
			return missing
		}
		var err error
		out, err = decode(id, v)
		return err
	})
	if err != nil {
		var none T
		return none, err
	}
	return out, nil
}

// pollCtx counts one more step of a long scan in n and, every 4096 steps,
// returns ctx's error, so that a scan stops once its caller gives up.
func pollCtx(ctx context.Context, n *int) error {
	if *n++; *n%4096 == 0 {
		return ctx.Err()
	}
	return nil
}

// finishWrite ends a write that passed its checks: it records the request
// id with rec (the request record) when there is one, and appends audit
// when it is set.
func finishWrite(tx *bbolt.Tx, requestID string, rec []byte, audit *epermitv1.AuditEntry) error {
	if requestID != "" {
		if err := tx.Bucket(bucketRequests).Put([]byte(requestID), rec); err != nil {
			return err
		}
	}
	if audit != nil {
		return appendAudit(tx, audit)
	}
	return nil
}

// isDuplicate reports whether requestID was recorded by an earlier write.
func isDuplicate(tx *bbolt.Tx, requestID string) bool {
	return requestID != "" && tx.Bucket(bucketRequests).Get([]byte(requestID)) != nil
}

// moveKey replaces the index key from with to in bucket b; either may be
// nil for none. Equal keys are left alone, so an unchanged key dirties no
// page.
func moveKey(b *bbolt.Bucket, from, to []byte) error {
	if string(from) == string(to) {
		return nil
	}
	if from != nil {
		if err := b.Delete(from); err != nil {
			return err
		}
	}
	if to != nil {
		return b.Put(to, nil)
	}
	return nil
}
