package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// The store copies its content out and in as records.
var (
	_ store.Exporter = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// exportBuckets are the buckets exported as they are, by kind.
var exportBuckets = []struct {
	kind   store.Kind
	bucket []byte
}{
	{store.KindPending, bucketPending},
	{store.KindAccount, bucketAccounts},
	{store.KindApplication, bucketApplications},
	{store.KindServiceRequest, bucketServiceReqs},
	{store.KindEvent, bucketSREvents},
	{store.KindAudit, bucketAudit},
}

// ExportCount returns the number of permit versions and of keys in the
// other exported buckets: a little more than Export yields when permits
// have past versions.
func (s *Store) ExportCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		n = int64(tx.Bucket(bucketPermits).Stats().KeyN + tx.Bucket(bucketRequests).Stats().KeyN)
		for _, e := range exportBuckets {
			n += int64(tx.Bucket(e.bucket).Stats().KeyN)
		}
		return nil
	})
	return n, err
}

// Export calls fn with every record from one read transaction: the
// current version of every permit, the request records (a permit write's
// with the permit version it names), and the other buckets as stored.
// Derived buckets (indexes, the audit head) are not exported.
func (s *Store) Export(ctx context.Context, fn func(store.Record) error) error {
	return s.view(ctx, func(tx *bbolt.Tx) error {
		n := 0
		emit := func(kind store.Kind, k, v []byte) error {
			if err := pollCtx(ctx, &n); err != nil {
				return err
			}
			return fn(store.Record{Kind: kind, Key: bytes.Clone(k), Value: bytes.Clone(v)})
		}
		if err := exportPermits(tx, emit); err != nil {
			return err
		}
		permits := tx.Bucket(bucketPermits)
		err := tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			rec, err := decodeRequest(v)
			if err != nil {
				return fmt.Errorf("bolt: request %q: %w", k, err)
			}
			if rec.kind != kindPermit {
				return emit(store.KindRequest, k, v)
			}
			p := permits.Get(permitKey(rec.permitID, rec.version))
			if p == nil {
				return fmt.Errorf("bolt: request %q names missing permit %s version %d", k, rec.permitID, rec.version)
			}
			return emit(store.KindRequest, k, store.EncodeRequest(kindPermit, rec.hash, p))
		})
		if err != nil {
			return err
		}
		for _, e := range exportBuckets {
			if err := tx.Bucket(e.bucket).ForEach(func(k, v []byte) error { return emit(e.kind, k, v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// exportPermits emits the last version of every permit, keyed by id.
func exportPermits(tx *bbolt.Tx, emit func(store.Kind, []byte, []byte) error) error {
	c := tx.Bucket(bucketPermits).Cursor()
	var id, data []byte
	for k, v := c.First(); ; k, v = c.Next() {
		var next []byte
		if k != nil {
			var ok bool
			if next, _, ok = splitPermitKey(k); !ok {
				return fmt.Errorf("bolt: malformed permits key %q", k)
			}
		}
		if id != nil && !bytes.Equal(next, id) {
			if err := emit(store.KindPermit, id, data); err != nil {
				return err
			}
		}
		if k == nil {
			return nil
		}
		id, data = next, v
	}
}

// Import writes batch in one transaction of the commit loop, with the
// indexes derived from it: pending by permit, tokens, application
// deadlines and states, the outbox, the citizen index and the service
// request index in memory, and the audit head, which moves only forward.
// A permit write's request record also stores the permit version it
// names. Nothing is written when a record is malformed.
func (s *Store) Import(ctx context.Context, batch []store.Record) error {
	recs := make([]*store.Decoded, len(batch))
	for i, r := range batch {
		d, err := r.Decode()
		if err != nil {
			return fmt.Errorf("bolt: import: %w", err)
		}
		recs[i] = d
	}
	accounts := false
	err := s.batch(ctx, "import", func(tx *bbolt.Tx) (refused, err error) {
		for _, d := range recs {
			if err := s.importOne(tx, d); err != nil {
				return nil, fmt.Errorf("%s %q: %w", d.Kind, d.Key, err)
			}
			accounts = accounts || d.Account != nil
		}
		return nil, nil
	})
	if accounts {
		s.tokens.clear()
	}
	return err
}

// importOne writes one decoded record and what derives from it.
func (s *Store) importOne(tx *bbolt.Tx, d *store.Decoded) error {
	k, v := d.Key, d.Value
	switch d.Kind {
	case store.KindPermit:
		return importPermit(tx, d.Permit, v)
	case store.KindRequest:
		if d.RequestKind == kindPermit {
			p := d.Permit
			if err := tx.Bucket(bucketPermits).Put(permitKey(p.GetId(), p.GetVersion()), d.RequestBody); err != nil {
				return err
			}
			v = encodePermitRequest(d.RequestHash, p.GetId(), p.GetVersion())
		}
		return tx.Bucket(bucketRequests).Put(k, v)
	case store.KindPending:
		return putPending(tx, d.Pending, v)
	case store.KindAccount:
		if err := tx.Bucket(bucketAccounts).Put(k, v); err != nil {
			return err
		}
		if len(d.Account.TokenHash) == 0 {
			return nil
		}
		return tx.Bucket(bucketTokens).Put(d.Account.TokenHash, k)
	case store.KindApplication:
		if err := tx.Bucket(bucketApplications).Put(k, v); err != nil {
			return err
		}
		if dk := deadlineKey(d.Application); dk != nil {
			if err := tx.Bucket(bucketDeadlines).Put(dk, nil); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketAppStates).Put(stateKey(d.Application), nil)
	case store.KindServiceRequest:
		if err := tx.Bucket(bucketServiceReqs).Put(k, v); err != nil {
			return err
		}
		s.srPermits.add(d.ServiceRequest.GetPermitId(), d.ServiceRequest.GetId())
		return importOutbox(tx, d.ServiceRequest)
	case store.KindEvent:
		return tx.Bucket(bucketSREvents).Put(k, v)
	case store.KindAudit:
		return importAudit(tx, d.Seq, d.Audit, v)
	}
	return nil
}

// importPermit stores the current version of a permit under its version,
// with its citizen-index and status-list entries, in tx.
func importPermit(tx *bbolt.Tx, p *epermitv1.Permit, data []byte) error {
	permits := tx.Bucket(bucketPermits)
	permits.FillPercent = 1
	var old *epermitv1.Permit
	if _, v := currentPermit(permits.Cursor(), p.GetId()); v != nil {
		var err error
		if old, err = unmarshalPermit(p.GetId(), v); err != nil {
			return fmt.Errorf("stored permit: %w", err)
		}
	}
	if refused, err := setStatusEntry(tx, old, p); refused != nil || err != nil {
		return errors.Join(refused, err)
	}
	if err := permits.Put(permitKey(p.GetId(), p.GetVersion()), data); err != nil {
		return err
	}
	return indexHolder(tx, p.GetId(), old.GetHolder().GetCitizenId(), p.GetHolder().GetCitizenId(), !store.IsFinal(p.GetStatus()))
}

// importOutbox puts an imported service request in the outbox when it has
// a next attempt time, without a claim: the one place the import knows the
// outbox.
func importOutbox(tx *bbolt.Tx, r *epermitv1.ServiceRequest) error {
	if k := outboxKey(r); k != nil {
		return tx.Bucket(bucketOutbox).Put(k, nil)
	}
	return nil
}

// importAudit stores an audit entry as it is and moves the head to it
// when it lies beyond the head.
func importAudit(tx *bbolt.Tx, seq uint64, e *epermitv1.AuditEntry, data []byte) error {
	audit, meta := tx.Bucket(bucketAudit), tx.Bucket(bucketMeta)
	audit.FillPercent = 1
	if err := audit.Put(seqKey(seq), data); err != nil {
		return err
	}
	head, err := decodeHead(meta.Get(keyAuditHead))
	if err != nil || seq <= head.Seq {
		return err
	}
	return meta.Put(keyAuditHead, encodeHead(store.AuditHead{Seq: seq, Hash: e.GetHash()}))
}
