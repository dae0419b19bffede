package permit

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// MaxImportRows is the most rows one ImportPermitsRequest may carry.
const MaxImportRows = 1000

// Refusal reasons of an import row (ImportResult.reason).
const (
	ReasonInvalidRow         = "INVALID_ROW"
	ReasonCitizenHoldsPermit = "CITIZEN_HOLDS_PERMIT"
	ReasonRequestIDReused    = "REQUEST_ID_REUSED"
)

// Importer implements epermitv1.ImportServiceServer: the bulk import of a
// division's existing residents (docs/import.md), over the Service that
// issues permits one at a time.
type Importer struct {
	epermitv1.UnsafeImportServiceServer
	s *Service
}

// NewImporter returns the Importer of s.
func NewImporter(s *Service) *Importer { return &Importer{s: s} }

// RegisterImportService registers im on r.
func RegisterImportService(r grpc.ServiceRegistrar, im *Importer) {
	epermitv1.RegisterImportServiceServer(r, im)
}

// importInFlight is how many batches of one stream the node works on at
// once: while one waits for its commit, the next are checked and join the
// same or the next commit.
const importInFlight = 4

// ImportPermits implements epermitv1.ImportServiceServer. It works on up
// to importInFlight batches at once and answers them in the order
// received. The rows of one batch are written in order; batches in flight
// together may be written in either order, so of two rows of one citizen
// in different batches either may be the one imported (permitctl refuses
// the later one itself).
func (im *Importer) ImportPermits(stream epermitv1.ImportService_ImportPermitsServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	type answer struct {
		results []*epermitv1.ImportResult
		err     error
		done    chan struct{}
	}
	var (
		answers = make(chan *answer, importInFlight-1)
		recvErr = make(chan error, 1)
	)
	go func() {
		defer close(answers)
		for {
			req, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					recvErr <- err
				}
				return
			}
			a := &answer{done: make(chan struct{})}
			select {
			case answers <- a:
			case <-ctx.Done():
				return
			}
			// A batch still in flight when the call ends early (on an
			// error) finishes or fails with the cancelled context.
			go func() {
				defer close(a.done)
				a.results, a.err = im.s.importBatch(ctx, req.Rows)
			}()
		}
	}()
	for a := range answers {
		<-a.done
		if a.err != nil {
			return a.err
		}
		if err := stream.Send(&epermitv1.ImportPermitsResponse{Results: a.results}); err != nil {
			return err
		}
	}
	select {
	case err := <-recvErr:
		return err
	default:
		return nil
	}
}

// importing is one valid row on its way into the store.
type importing struct {
	row    *epermitv1.ImportRow
	hash   []byte
	permit *epermitv1.Permit
	result *epermitv1.ImportResult
}

// importBatch checks every row as IssuePermit checks its request, writes
// the valid ones in one WritePermits and answers each row. Outside a
// federation a new permit is ACTIVE with its status-list entry; in one it
// is PENDING and the settler asks the other members about it, as for
// IssuePermit. A permit id drawn twice (a collision of the random part)
// is drawn again, and so is a status-list entry another replica took. Only a storage failure fails the batch.
func (s *Service) importBatch(ctx context.Context, rows []*epermitv1.ImportRow) ([]*epermitv1.ImportResult, error) {
	switch n := len(rows); {
	case n == 0:
		return nil, apierror.InvalidField("rows", "REQUIRED", fmt.Sprintf("a batch holds 1 to %d rows", MaxImportRows))
	case n > MaxImportRows:
		return nil, apierror.InvalidField("rows", "TOO_MANY", fmt.Sprintf("a batch holds at most %d rows, got %d", MaxImportRows, n))
	}
	now := s.cfg.Clock()
	day := today(now)
	results := make([]*epermitv1.ImportResult, len(rows))
	var todo []*importing
	for i, row := range rows {
		res := &epermitv1.ImportResult{Row: row.Row}
		results[i] = res
		var v apierror.Violations
		requestID(&v, row.RequestId)
		h, addr, start := issueFields(&v, row.Holder, row.ResidenceAddress, row.ResidenceStartDate, day)
		if row.ResidenceStartDate == "" {
			v.Add("residence_start_date", "REQUIRED", "is required: the start of residence on the paper permit, from which the residence years count")
		}
		if !v.Empty() {
			refuseRow(res, ReasonInvalidRow, "", "the row is invalid", &v)
			continue
		}
		p := s.newPermit(h, addr, day, now)
		p.ResidenceStartDate = formatDate(start)
		if s.federated() {
			p.Status = epermitv1.PermitStatus_PERMIT_STATUS_PENDING
		} else if s.cfg.Status != nil {
			index, err := s.cfg.Status.Assign(ctx)
			if err != nil {
				s.releaseImports(todo)
				return nil, s.internal("assign a status list entry", err)
			}
			p.StatusIndex = &index
		}
		todo = append(todo, &importing{row: row, hash: validate.Fingerprint(row), permit: p, result: res})
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		ws := make([]store.PermitWrite, len(todo))
		for j, t := range todo {
			id, err := permitid.New(s.cfg.Division)
			if err != nil {
				s.releaseImports(todo)
				return nil, s.internal("new permit id", err)
			}
			t.permit.Id = id
			ws[j] = store.PermitWrite{RequestID: t.row.RequestId, RequestHash: t.hash, Permit: t.permit,
				Audit: s.importEntry(ctx, t)}
		}
		refusals, err := s.cfg.Store.WritePermits(ctx, ws)
		if err != nil {
			// Some rows may be stored (store/redis), holding their
			// entries: none is released, an unused entry costs nothing
			// and the list is rebuilt from the store at start.
			return nil, s.storeError("import permits", err)
		}
		var again []*importing
		for j, t := range todo {
			if errors.Is(refusals[j], store.ErrConflict) && attempt < 3 {
				again = append(again, t) // the random permit id collided
				continue
			}
			if errors.Is(refusals[j], store.ErrIndexTaken) && t.permit.StatusIndex != nil && attempt < maxIndexDraws {
				// Another replica gave the entry to a permit of its own;
				// it stays reserved here, and the row draws another.
				index, err := s.cfg.Status.Assign(ctx)
				if err != nil {
					return nil, s.internal("assign a status list entry", err)
				}
				t.permit.StatusIndex = &index
				again = append(again, t)
				continue
			}
			if err := s.importOutcome(ctx, t, refusals[j]); err != nil {
				return nil, err // later rows may be stored: their entries stay theirs
			}
		}
		todo = again
	}
	return results, nil
}

// importOutcome answers a row from the outcome of its write.
func (s *Service) importOutcome(ctx context.Context, t *importing, refused error) error {
	res, p := t.result, t.permit
	var active *store.ActivePermitError
	switch {
	case refused == nil:
		res.Outcome, res.PermitId, res.Status = epermitv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED, p.Id, p.Status
		if p.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
			s.settler.add(p.Id)
		} else if s.cfg.Status != nil {
			s.cfg.Status.Record(p)
		}
		return nil
	case errors.As(refused, &active):
		s.releaseImports([]*importing{t})
		refuseRow(res, ReasonCitizenHoldsPermit, active.PermitID,
			"the citizen already holds permit "+active.PermitID+", which is not cancelled, confiscated or superseded", nil)
		return nil
	case errors.Is(refused, store.ErrDuplicateRequest):
		s.releaseImports([]*importing{t})
		r, err := s.cfg.Store.Replay(ctx, t.row.RequestId)
		if err != nil {
			return s.storeError("replay import row", err)
		}
		if string(r.RequestHash) != string(t.hash) || r.Permit == nil {
			refuseRow(res, ReasonRequestIDReused, "", "request id "+t.row.RequestId+
				" was already used for a different row; the file changed since it was imported under this id", nil)
			return nil
		}
		res.Outcome, res.PermitId, res.Status = epermitv1.ImportOutcome_IMPORT_OUTCOME_REPLAYED, r.Permit.Id, r.Permit.Status
		return nil
	}
	return s.storeError("import permit", refused, p.Id)
}

// refuseRow marks res refused for reason, naming permit (if any), with the
// violations v (if any).
func refuseRow(res *epermitv1.ImportResult, reason, permit, msg string, v *apierror.Violations) {
	res.Outcome, res.Reason, res.PermitId, res.Message = epermitv1.ImportOutcome_IMPORT_OUTCOME_REFUSED, reason, permit, msg
	if v == nil {
		return
	}
	for _, f := range v.Fields() {
		res.Violations = append(res.Violations, &epermitv1.ImportFieldViolation{Field: f.Field, Reason: f.Reason, Description: f.Description})
	}
}

// releaseImports gives back the status-list entries of rows not written.
func (s *Service) releaseImports(ts []*importing) {
	for _, t := range ts {
		if t.permit.StatusIndex != nil {
			s.cfg.Status.Release(t.permit.GetStatusIndex())
			t.permit.StatusIndex = nil
		}
	}
}

// importEntry is the audit entry of one imported permit: the call's, with
// the row's request id and line; nil outside a call (tests of the bare
// service).
func (s *Service) importEntry(ctx context.Context, t *importing) *epermitv1.AuditEntry {
	call := auth.CallFrom(ctx)
	if call == nil {
		return nil
	}
	e := call.Entry(t.permit.Id)
	e.RequestId = t.row.RequestId
	e.Note = fmt.Sprintf("imported, row %d", t.row.Row)
	if n := pendingNote(t.permit); n != "" {
		e.Note += "; " + n
	}
	return e
}
