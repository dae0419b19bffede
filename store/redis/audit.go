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

// auditChunk is how many entries one read of the log fetches.
const auditChunk = 256

// AppendAudit appends e to the audit log on its own, in one script that
// chains it to the head. On success e holds its seq, prev_hash and hash.
func (s *Store) AppendAudit(ctx context.Context, e *epermitv1.AuditEntry) error {
	if e == nil {
		return errors.New("redis: append of a nil audit entry")
	}
	v, err := s.run(ctx, "append audit entry", appendAuditScript, e)
	if err != nil {
		return err
	}
	return refusal(v)
}

// auditHead reads the head of the log.
func (s *Store) auditHead(ctx context.Context) (store.AuditHead, error) {
	v, err := s.c.HMGet(ctx, s.key("audit:head"), "seq", "hash").Result()
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("redis: read audit head: %w", err)
	}
	if v[0] == nil {
		return store.AuditHead{}, nil
	}
	seqStr, _ := v[0].(string)
	hash, _ := v[1].(string)
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil || len(hash) != 32 {
		return store.AuditHead{}, fmt.Errorf("redis: malformed audit head %q", seqStr)
	}
	return store.AuditHead{Seq: seq, Hash: []byte(hash)}, nil
}

// readAudit calls fn with the stored entries from seq first to last, in
// seq order, reading auditChunk at a time; a missing seq is skipped, and
// an entry that does not decode is passed holding only its seq.
func (s *Store) readAudit(ctx context.Context, first, last uint64, fn func(*epermitv1.AuditEntry) (more bool, err error)) error {
	for from := first; from <= last && from != 0; {
		to := min(last, from+auditChunk-1)
		fields := make([]string, 0, to-from+1)
		for seq := from; seq <= to; seq++ {
			fields = append(fields, strconv.FormatUint(seq, 10))
		}
		vs, err := s.c.HMGet(ctx, s.key("audit"), fields...).Result()
		if err != nil {
			return fmt.Errorf("redis: read audit log: %w", err)
		}
		for i, v := range vs {
			str, ok := v.(string)
			if !ok {
				continue
			}
			e := new(epermitv1.AuditEntry)
			if err := proto.Unmarshal([]byte(str), e); err != nil {
				e = &epermitv1.AuditEntry{Seq: from + uint64(i)}
			}
			more, err := fn(e)
			if err != nil || !more {
				return err
			}
		}
		if to == math.MaxUint64 {
			break
		}
		from = to + 1
	}
	return nil
}

// ListAudit returns up to limit audit entries with seq > afterSeq that
// match the filter, in seq order, reading the log up to its head. A limit
// below one returns none.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter, afterSeq uint64, limit int) ([]*epermitv1.AuditEntry, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit < 1 {
		return nil, nil
	}
	head, err := s.auditHead(ctx)
	if err != nil || afterSeq >= head.Seq {
		return nil, err
	}
	var out []*epermitv1.AuditEntry
	err = s.readAudit(ctx, afterSeq+1, head.Seq, func(e *epermitv1.AuditEntry) (bool, error) {
		if auditMatches(f, e) {
			out = append(out, e)
		}
		return len(out) < limit, ctx.Err()
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

// ScanAudit calls fn with every stored audit entry up to the head, in seq
// order, until fn returns an error, which ScanAudit returns. It returns
// the head, read first: entries are never changed once appended, so the
// entries up to it are one consistent snapshot although they are read in
// chunks. A seq missing from the log is skipped (store.CheckAuditChain
// reports the gap); an entry whose bytes do not decode is passed holding
// only its seq, so that CheckAuditChain reports it as altered.
func (s *Store) ScanAudit(ctx context.Context, fn func(*epermitv1.AuditEntry) error) (store.AuditHead, error) {
	if err := s.enter(ctx); err != nil {
		return store.AuditHead{}, err
	}
	defer s.leave()
	head, err := s.auditHead(ctx)
	if err != nil {
		return store.AuditHead{}, err
	}
	err = s.readAudit(ctx, 1, head.Seq, func(e *epermitv1.AuditEntry) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		return true, fn(e)
	})
	if err != nil {
		return store.AuditHead{}, err
	}
	return head, nil
}

// isNil reports whether err is go-redis's "no such key".
func isNil(err error) bool { return errors.Is(err, goredis.Nil) }
