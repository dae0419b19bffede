package node

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

func TestRecoverUnary(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	info := &grpc.UnaryServerInfo{FullMethod: "/epermit.v1.PermitService/IssuePermit"}
	_, err := recoverUnary(log)(context.Background(), &epermitv1.IssuePermitRequest{RequestId: "req-42"}, info,
		func(context.Context, any) (any, error) { panic("boom") })
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want INTERNAL without the panic value", err)
	}
	for _, want := range []string{"panic in handler", "boom", "req-42", "IssuePermit"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestDefaultDeadline(t *testing.T) {
	var got time.Time
	h := func(ctx context.Context, _ any) (any, error) {
		got, _ = ctx.Deadline()
		return nil, nil
	}
	defaultDeadlineUnary(time.Minute)(context.Background(), nil, &grpc.UnaryServerInfo{}, h)
	if d := time.Until(got); d < 50*time.Second || d > time.Minute {
		t.Fatalf("default deadline in %v, want about a minute", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	defaultDeadlineUnary(time.Minute)(ctx, nil, &grpc.UnaryServerInfo{}, h)
	if d := time.Until(got); d > time.Second {
		t.Fatalf("caller's deadline replaced: %v", d)
	}
}

func TestLogLevels(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	info := &grpc.UnaryServerInfo{FullMethod: "/m"}
	logUnary(log)(context.Background(), nil, info, func(context.Context, any) (any, error) { return nil, nil })
	if logs.Len() != 0 {
		t.Fatalf("a successful call was logged at info: %s", logs.String())
	}
	logUnary(log)(context.Background(), nil, info, func(context.Context, any) (any, error) {
		return nil, status.Error(codes.Internal, "x")
	})
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "code=Internal") {
		t.Fatalf("an internal error was not logged as an error: %s", logs.String())
	}
}
