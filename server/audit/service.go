// Package audit implements AuditService: reading the node's hash-chained
// audit log and verifying the chain.
package audit

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Page sizes of ListAuditEntries.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// Service implements epermitv1.AuditServiceServer.
type Service struct {
	epermitv1.UnsafeAuditServiceServer
	store store.Store
	log   *slog.Logger
}

// New returns a Service reading st; log receives causes hidden from callers
// (slog.Default when nil).
func New(st store.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: st, log: log}
}

// RegisterService registers svc on s.
func RegisterService(s grpc.ServiceRegistrar, svc *Service) {
	epermitv1.RegisterAuditServiceServer(s, svc)
}

// ListAuditEntries implements epermitv1.AuditServiceServer. The page token
// is the seq of the last entry returned.
func (s *Service) ListAuditEntries(ctx context.Context, req *epermitv1.ListAuditEntriesRequest) (*epermitv1.ListAuditEntriesResponse, error) {
	var v apierror.Violations
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size < 0 || size > maxPageSize:
		v.Add("page_size", "OUT_OF_RANGE", "page_size is 1-1000, or 0 for 100")
	}
	f := store.AuditFilter{Actor: req.GetActor(), Target: req.GetPermitId()}
	if t := req.GetStartTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			v.Add("start_time", "INVALID", err.Error())
		}
		f.Start = t.AsTime()
	}
	if t := req.GetEndTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			v.Add("end_time", "INVALID", err.Error())
		}
		f.End = t.AsTime()
	}
	if !f.Start.IsZero() && !f.End.IsZero() && !f.Start.Before(f.End) {
		v.Add("end_time", "BEFORE_START", "end_time must be after start_time")
	}
	if len(f.Actor) > 64 {
		v.Add("actor", "TOO_LONG", "an account name has at most 64 characters")
	}
	if len(f.Target) > 64 {
		v.Add("permit_id", "TOO_LONG", "a permit id has 20 characters")
	}
	after, ok := decodeToken(req.GetPageToken())
	if !ok {
		v.Add("page_token", "INVALID", "not a page token from a previous answer")
	}
	if err := v.Err("invalid audit query"); err != nil {
		return nil, err
	}
	entries, err := s.store.ListAudit(ctx, f, after, size+1)
	if err != nil {
		s.log.Error("store failure", "doing", "listing audit entries", "err", err)
		return nil, apierror.Failure(err)
	}
	resp := &epermitv1.ListAuditEntriesResponse{Entries: entries}
	if len(entries) > size {
		resp.Entries = entries[:size]
		resp.NextPageToken = encodeToken(entries[size-1].GetSeq())
	}
	return resp, nil
}

// VerifyAuditChain implements epermitv1.AuditServiceServer.
func (s *Service) VerifyAuditChain(ctx context.Context, _ *epermitv1.VerifyAuditChainRequest) (*epermitv1.VerifyAuditChainResponse, error) {
	r, err := store.CheckAuditChain(ctx, s.store)
	if err != nil {
		s.log.Error("store failure", "doing", "verifying the audit chain", "err", err)
		return nil, apierror.Failure(err)
	}
	if !r.Intact {
		s.log.Error("audit chain broken", "first_bad_seq", r.FirstBad, "problem", r.Problem)
	}
	return &epermitv1.VerifyAuditChainResponse{
		Intact: r.Intact, Entries: r.Entries, FirstBadSeq: r.FirstBad, Problem: r.Problem,
		HeadSeq: r.Head.Seq, HeadHash: r.Head.Hash,
	}, nil
}

// encodeToken and decodeToken carry a seq in an opaque page token.
func encodeToken(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, seq))
}

func decodeToken(t string) (uint64, bool) {
	if t == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}
