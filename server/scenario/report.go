package scenario

import (
	"context"

	"google.golang.org/grpc"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/validate"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Reports implements departmentv1.StatusReportServiceServer: departments
// report decisions they make after taking a request in.
type Reports struct {
	departmentv1.UnsafeStatusReportServiceServer
	s *Service
}

// NewReports returns the StatusReportService of svc's requests.
func NewReports(svc *Service) *Reports { return &Reports{s: svc} }

// RegisterReports registers r on s.
func RegisterReports(s grpc.ServiceRegistrar, r *Reports) {
	departmentv1.RegisterStatusReportServiceServer(s, r)
}

// ReportStatus implements departmentv1.StatusReportServiceServer. The
// caller's account is named "dept-" and the department's code (a system
// account with the department role): a department reports only on
// requests routed to it. Reporting the state a request already has
// changes nothing; a request already decided otherwise is refused.
func (r *Reports) ReportStatus(ctx context.Context, req *departmentv1.ReportStatusRequest) (*departmentv1.ReportStatusResponse, error) {
	var v apierror.Violations
	id := requestID(&v, "request_id", req.RequestId)
	to := stateOfDecision(req.Decision)
	if to == epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED {
		v.Add("decision", "REQUIRED", "is required: ACCEPTED, REJECTED or COMPLETED")
	}
	reason := validate.Text(&v, "reason", req.Reason, 0, maxReason)
	if err := v.Err("invalid report"); err != nil {
		return nil, err
	}
	reporter := actorOf(ctx)
	_, err := r.s.change(ctx, req, "", id, func(sr *epermitv1.ServiceRequest) error {
		if call := auth.CallFrom(ctx); call != nil && call.Principal.Account != DepartmentAccount(sr.Department) {
			return apierror.PermissionDenied("request " + sr.Id + " was routed to department " + sr.Department +
				", whose account is " + DepartmentAccount(sr.Department) + ", not " + call.Principal.Account)
		}
		switch sr.State {
		case to:
			return errUnchanged
		case epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ACCEPTED,
			epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED:
		default:
			return apierror.FailedPrecondition("REQUEST_"+stateWord(sr.State), sr.Id, "the request is already "+stateWord(sr.State))
		}
		if req.Reference != "" {
			sr.DepartmentReference = req.Reference
		}
		sr.NextAttemptTime = nil // a report proves the delivery
		transition(sr, to, reason, "department "+reporter, r.s.cfg.Clock())
		return nil
	})
	if err != nil && err != errUnchanged {
		return nil, err
	}
	return &departmentv1.ReportStatusResponse{}, nil
}

// DepartmentAccount is the name of the account a department reports with.
func DepartmentAccount(code string) string { return "dept-" + code }
