package federation

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/server/auth"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// ApplicationReceiver takes in the applications that other members
// accepted on this node's behalf (异地代收); server/application.Service is
// one.
type ApplicationReceiver interface {
	// ReceiveApplication stores a, forwarded by the member with division
	// code from, and returns it as stored here. A repeated call for the
	// same application returns the first result.
	ReceiveApplication(ctx context.Context, from string, a *epermitv1.Application) (*epermitv1.Application, error)
}

// WithApplications makes svc take in forwarded applications through r; it
// returns svc. Call it before serving.
func (s *Service) WithApplications(r ApplicationReceiver) *Service {
	s.applications = r
	return s
}

// ForwardApplication implements epermitv1.FederationServiceServer: it
// hands the application to the receiver with the caller's division, which
// the auth interceptor took from the caller's verified certificate and
// system account.
func (s *Service) ForwardApplication(ctx context.Context, req *epermitv1.ForwardApplicationRequest) (*epermitv1.ForwardApplicationResponse, error) {
	if s.applications == nil {
		return nil, status.Error(codes.Unimplemented, "this node does not take in forwarded applications")
	}
	call := auth.CallFrom(ctx)
	if call == nil || call.Principal == nil {
		return nil, status.Error(codes.Unauthenticated, "forwarding needs an authenticated member")
	}
	a, err := s.applications.ReceiveApplication(ctx, call.Principal.Division, req.GetApplication())
	if err != nil {
		return nil, err
	}
	return &epermitv1.ForwardApplicationResponse{ApplicationId: a.GetId(), State: a.GetState()}, nil
}
