package bolt

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// AppendAudit appends e to the audit log on its own, through the same group
// commit as the writes, so that the entries of concurrent reads share one
// fsync. On success e holds its seq, prev_hash and hash.
func (s *Store) AppendAudit(ctx context.Context, e *epermitv1.AuditEntry) error {
	if e == nil {
		return errors.New("bolt: append of a nil audit entry")
	}
	return s.batch(ctx, "append audit entry", func(tx *bbolt.Tx) (refused, err error) {
		return nil, appendAudit(tx, e)
	})
}

// ListAudit returns up to limit audit entries with seq > afterSeq that
// match the filter, in seq order. A limit below one returns none.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter, afterSeq uint64, limit int) ([]*epermitv1.AuditEntry, error) {
	var out []*epermitv1.AuditEntry
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if limit < 1 || afterSeq == math.MaxUint64 {
			return nil
		}
		c := tx.Bucket(bucketAudit).Cursor()
		n := 0
		for k, v := c.Seek(seqKey(afterSeq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			if err := pollCtx(ctx, &n); err != nil {
				return err
			}
			e, err := unmarshalAudit(k, v)
			if err != nil {
				return err
			}
			if auditMatches(f, e) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// auditMatches reports whether e passes f.
func auditMatches(f store.AuditFilter, e *epermitv1.AuditEntry) bool {
	t := e.GetTime().AsTime()
	switch {
	case !f.Start.IsZero() && t.Before(f.Start),
		!f.End.IsZero() && !t.Before(f.End),
		f.Actor != "" && e.GetActor() != f.Actor,
		f.Target != "" && e.GetTarget() != f.Target:
		return false
	}
	return true
}

// ScanAudit calls fn with every stored audit entry in key order, from one
// read transaction, until fn returns an error, which ScanAudit returns. It
// returns the head recorded in meta's audit_head. An entry whose bytes do
// not decode is passed as an entry holding only the seq of its key, so
// that store.CheckAuditChain reports it as altered.
func (s *Store) ScanAudit(ctx context.Context, fn func(*epermitv1.AuditEntry) error) (store.AuditHead, error) {
	var head store.AuditHead
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		if head, err = decodeHead(tx.Bucket(bucketMeta).Get(keyAuditHead)); err != nil {
			return err
		}
		c := tx.Bucket(bucketAudit).Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := pollCtx(ctx, &n); err != nil {
				return err
			}
			e, err := unmarshalAudit(k, v)
			if err != nil {
				e = &epermitv1.AuditEntry{}
				if len(k) == 8 {
					e.Seq = binary.BigEndian.Uint64(k)
				}
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.AuditHead{}, err
	}
	return head, nil
}

// appendAudit chains e to the head recorded in tx, and writes it and the
// new head. It sets e's seq, prev_hash and hash. It fails when the log
// already holds an entry beyond the recorded head, rather than overwrite
// it.
func appendAudit(tx *bbolt.Tx, e *epermitv1.AuditEntry) error {
	meta, audit := tx.Bucket(bucketMeta), tx.Bucket(bucketAudit)
	audit.FillPercent = 1
	head, err := decodeHead(meta.Get(keyAuditHead))
	if err != nil {
		return err
	}
	if k, _ := audit.Cursor().Last(); k != nil && (len(k) != 8 || binary.BigEndian.Uint64(k) > head.Seq) {
		return fmt.Errorf("audit log holds entry %x beyond its recorded head %d; the file was altered", k, head.Seq)
	}
	head = store.ChainAudit(head, e)
	data, err := marshalOptions.Marshal(e)
	if err != nil {
		return fmt.Errorf("marshal audit entry: %w", err)
	}
	if err := audit.Put(seqKey(head.Seq), data); err != nil {
		return err
	}
	return meta.Put(keyAuditHead, encodeHead(head))
}

// seqKey is the audit key of an entry.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// encodeHead builds the audit_head value: 8-byte seq || hash.
func encodeHead(h store.AuditHead) []byte {
	return append(seqKey(h.Seq), h.Hash...)
}

// decodeHead parses an audit_head value; nil is the head of an empty log.
func decodeHead(v []byte) (store.AuditHead, error) {
	if v == nil {
		return store.AuditHead{}, nil
	}
	if len(v) != 8+sha256.Size {
		return store.AuditHead{}, fmt.Errorf("bolt: malformed audit head of %d bytes", len(v))
	}
	return store.AuditHead{Seq: binary.BigEndian.Uint64(v), Hash: append([]byte(nil), v[8:]...)}, nil
}

// unmarshalAudit decodes the audit entry stored under key k.
func unmarshalAudit(k, v []byte) (*epermitv1.AuditEntry, error) {
	e := new(epermitv1.AuditEntry)
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("bolt: decode audit entry %x: %w", k, err)
	}
	return e, nil
}
