package permit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// MaxResignBatch is the most permits one batch of ResignPermits writes,
// in one transaction.
const MaxResignBatch = 1000

// maxResignAttempts is how often a batch writes a permit that other calls
// keep changing before the drill gives up with ABORTED (a rerun resumes).
const maxResignAttempts = 10

// countPage is how many permits the count before a drill reads at once.
const countPage = 10000

// Resigner implements epermitv1.KeyServiceServer: the key compromise drill
// (docs/operations.md), over the Service that signs credentials.
type Resigner struct {
	epermitv1.UnsafeKeyServiceServer
	s *Service
}

// NewResigner returns the Resigner of s.
func NewResigner(s *Service) *Resigner { return &Resigner{s: s} }

// RegisterKeyService registers rs on r.
func RegisterKeyService(r grpc.ServiceRegistrar, rs *Resigner) {
	epermitv1.RegisterKeyServiceServer(r, rs)
}

// drill is one checked ResignPermits request.
type drill struct {
	compromised string
	kid         string    // the key signing now
	cutover     time.Time // its not-before: credentials from then on are signed with it or a later key
	batch       int
	credentials bool
}

// ResignPermits implements epermitv1.KeyServiceServer.
func (r *Resigner) ResignPermits(req *epermitv1.ResignPermitsRequest, stream epermitv1.KeyService_ResignPermitsServer) error {
	s, ctx := r.s, stream.Context()
	d, err := s.newDrill(req)
	if err != nil {
		return err
	}
	total, err := s.countToResign(ctx, d.cutover)
	if err != nil {
		return err
	}
	cutover := timestamppb.New(d.cutover)
	if err := stream.Send(&epermitv1.ResignPermitsResponse{Total: total, Kid: d.kid, CutoverTime: cutover}); err != nil {
		return err
	}
	var done, skipped int64
	for after := ""; ; {
		page, err := s.cfg.Store.ListPermits(ctx, store.PermitFilter{}, after, d.batch)
		if err != nil {
			return s.storeError("list permits", err)
		}
		if len(page) == 0 {
			return nil
		}
		resigned, creds, err := s.resignBatch(ctx, d, page)
		if err != nil {
			return err
		}
		after = page[len(page)-1].Id
		done += int64(resigned)
		skipped += int64(len(page) - resigned)
		if err := stream.Send(&epermitv1.ResignPermitsResponse{Total: total, Resigned: done, Skipped: skipped,
			LastPermitId: after, Kid: d.kid, CutoverTime: cutover, Credentials: creds}); err != nil {
			return err
		}
	}
}

// newDrill checks a ResignPermits request against the node's keys: the
// compromised key must be one of the division's, and no longer the one
// the node signs with.
func (s *Service) newDrill(req *epermitv1.ResignPermitsRequest) (*drill, error) {
	var v apierror.Violations
	kid := req.CompromisedKid
	if len(kid) != 16 || strings.Trim(kid, "0123456789abcdef") != "" {
		v.Add("compromised_kid", "INVALID", "must be a key id: 16 lower-case hex digits")
	}
	batch := int(req.BatchSize)
	switch {
	case batch == 0:
		batch = MaxResignBatch
	case batch < 0 || batch > MaxResignBatch:
		v.Add("batch_size", "OUT_OF_RANGE", fmt.Sprintf("must be 1 to %d, or 0 for %d", MaxResignBatch, MaxResignBatch))
	}
	if err := v.Err("invalid resign request"); err != nil {
		return nil, err
	}
	now := s.cfg.Clock().Truncate(time.Second) // credentials are signed at whole seconds
	current := s.cfg.Keys.SignerAt(now).KID()
	var own []trustKey
	if s.cfg.Trust != nil {
		if m, ok := s.cfg.Trust.Current().Member(s.cfg.Division); ok {
			for _, k := range m.Keys {
				own = append(own, trustKey{k.KID, k.NotBefore})
			}
		}
	}
	_, held := s.cfg.Keys.Public(kid)
	if !held && !hasKey(own, kid) {
		return nil, apierror.InvalidField("compromised_kid", "UNKNOWN_KEY",
			"key "+kid+" is neither held by this node nor listed for division "+s.cfg.Division+" in its trust list")
	}
	if kid == current {
		return nil, apierror.FailedPrecondition("KEY_STILL_SIGNING", kid,
			"key "+kid+" is the key the node signs with now: add a new issuer key to the trust list (permitd new-issuer-key, permitctl trust rotate), publish it and let the node load it first")
	}
	for _, k := range own {
		if k.kid == current {
			return &drill{compromised: kid, kid: current, cutover: k.notBefore, batch: batch, credentials: req.IncludeCredentials}, nil
		}
	}
	return nil, apierror.FailedPrecondition("NO_TRUST_LIST", current,
		"no trust list loaded by the node names its current key "+current+", so there is no cut-over to re-sign to")
}

// trustKey is one of the division's keys in the trust list.
type trustKey struct {
	kid       string
	notBefore time.Time
}

func hasKey(ks []trustKey, kid string) bool {
	for _, k := range ks {
		if k.kid == kid {
			return true
		}
	}
	return false
}

// needsResign reports whether the drill re-signs p: a permit in force (not
// final, not pending) whose credential is from before the cut-over.
func needsResign(p *epermitv1.Permit, cutover time.Time) bool {
	return !store.IsFinal(p.Status) && p.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING &&
		p.CredentialTime.AsTime().Before(cutover)
}

// countToResign counts the permits the drill has still to re-sign.
func (s *Service) countToResign(ctx context.Context, cutover time.Time) (int64, error) {
	var n int64
	for after := ""; ; {
		page, err := s.cfg.Store.ListPermits(ctx, store.PermitFilter{}, after, countPage)
		if err != nil {
			return 0, s.storeError("list permits", err)
		}
		if len(page) == 0 {
			return n, nil
		}
		for _, p := range page {
			if needsResign(p, cutover) {
				n++
			}
		}
		after = page[len(page)-1].Id
	}
}

// resignBatch writes a new version of each permit of page that needs it,
// with its credential time now, in one WritePermits; a permit another call
// changed meanwhile is read again and, if it still needs it, written again.
// It returns how many were re-signed and, when the drill asks, the
// credentials in force of the page's permits.
func (s *Service) resignBatch(ctx context.Context, d *drill, page []*epermitv1.Permit) (int, []*epermitv1.ResignedCredential, error) {
	current := make([]*epermitv1.Permit, len(page)) // each permit as it is after the batch
	var todo []int
	for i, p := range page {
		current[i] = p
		if needsResign(p, d.cutover) {
			todo = append(todo, i)
		}
	}
	resigned := 0
	call := auth.CallFrom(ctx)
	for attempt := 1; len(todo) > 0; attempt++ {
		now := s.cfg.Clock()
		ws := make([]store.PermitWrite, len(todo))
		for j, i := range todo {
			next := cloneProto(current[i])
			next.Version++
			next.UpdateTime = timestamppb.New(now)
			next.CredentialTime = timestamppb.New(now)
			ws[j] = store.PermitWrite{PrevVersion: current[i].Version, Permit: next, Audit: s.resignEntry(call, d, next.Id)}
		}
		refusals, err := s.cfg.Store.WritePermits(ctx, ws)
		if err != nil {
			return 0, nil, s.storeError("re-sign permits", err)
		}
		var again []int
		for j, i := range todo {
			switch {
			case refusals[j] == nil:
				current[i] = ws[j].Permit
				resigned++
			case errors.Is(refusals[j], store.ErrConflict) && attempt < maxResignAttempts:
				p, err := s.cfg.Store.GetPermit(ctx, current[i].Id)
				if err != nil {
					return 0, nil, s.storeError("read permit", err, current[i].Id)
				}
				current[i] = p
				if needsResign(p, d.cutover) {
					again = append(again, i)
				}
			case errors.Is(refusals[j], store.ErrConflict):
				return 0, nil, apierror.Aborted("permit " + current[i].Id + " kept changing while being re-signed; run the drill again to go on")
			default:
				return 0, nil, s.storeError("re-sign permit", refusals[j], current[i].Id)
			}
		}
		todo = again
	}
	if !d.credentials {
		return resigned, nil, nil
	}
	creds, err := s.credentialsInForce(current)
	if err != nil {
		return 0, nil, err
	}
	return resigned, creds, nil
}

// credentialsInForce signs the credentials of the permits in force among
// ps, on every core: when a drill exports them, signing costs more than
// writing.
func (s *Service) credentialsInForce(ps []*epermitv1.Permit) ([]*epermitv1.ResignedCredential, error) {
	var inForce []*epermitv1.Permit
	for _, p := range ps {
		if !store.IsFinal(p.Status) && p.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
			inForce = append(inForce, p)
		}
	}
	creds := make([]*epermitv1.ResignedCredential, len(inForce))
	workers := min(runtime.GOMAXPROCS(0), len(inForce))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(inForce); i += workers {
				c, err := s.credential(inForce[i])
				if err != nil {
					errs[w] = err
					return
				}
				creds[i] = &epermitv1.ResignedCredential{PermitId: inForce[i].Id, Version: inForce[i].Version, Credential: c}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // already a gRPC error
		}
	}
	return creds, nil
}

// resignEntry is the audit entry of one re-signed permit; nil outside a
// call (tests of the bare service).
func (s *Service) resignEntry(call *auth.Call, d *drill, id string) *epermitv1.AuditEntry {
	e := call.Entry(id)
	if e != nil {
		e.Note = "re-signed: key " + d.compromised + " compromised, credential now signed with key " + d.kid
	}
	return e
}
