package client

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc"
)

func TestDial(t *testing.T) {
	tests := []struct {
		name    string
		target  string
		opts    Options
		wantErr error // nil: Dial succeeds; errAny: any error
	}{
		{name: "ipv4 loopback", target: "127.0.0.1:7700", opts: Options{Insecure: true}},
		{name: "other 127/8 address", target: "127.10.0.3:7700", opts: Options{Insecure: true}},
		{name: "ipv6 loopback", target: "[::1]:7700", opts: Options{Insecure: true}},
		{name: "localhost", target: "localhost:7700", opts: Options{Insecure: true}},
		{name: "localhost upper case", target: "LOCALHOST:7700", opts: Options{Insecure: true}},
		{name: "plaintext to private address", target: "10.0.0.5:7700", opts: Options{Insecure: true}, wantErr: ErrPlaintextNotLoopback},
		{name: "plaintext to public address", target: "203.0.113.7:7700", opts: Options{Insecure: true}, wantErr: ErrPlaintextNotLoopback},
		{name: "plaintext to host name", target: "permitd.example.com:7700", opts: Options{Insecure: true}, wantErr: ErrPlaintextNotLoopback},
		{name: "plaintext to unspecified address", target: "0.0.0.0:7700", opts: Options{Insecure: true}, wantErr: ErrPlaintextNotLoopback},
		{name: "ipv6 mapped non-loopback", target: "[::ffff:10.0.0.5]:7700", opts: Options{Insecure: true}, wantErr: ErrPlaintextNotLoopback},
		{name: "no transport chosen", target: "127.0.0.1:7700", wantErr: ErrNoTransportSecurity},
		{name: "no port", target: "127.0.0.1", opts: Options{Insecure: true}, wantErr: errAny},
		{name: "no host", target: ":7700", opts: Options{Insecure: true}, wantErr: errAny},
		{name: "scheme", target: "dns:///127.0.0.1:7700", opts: Options{Insecure: true}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(tt.target, tt.opts)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Dial(%q) = %v, want success", tt.target, err)
			case tt.wantErr == nil:
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			case err == nil:
				c.Close()
				t.Fatalf("Dial(%q) succeeded, want an error", tt.target)
			case tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Dial(%q) = %v, want %v", tt.target, err, tt.wantErr)
			}
		})
	}
}

// errAny stands for "some error" in TestDial.
var errAny = errors.New("any error")

func TestNewRequestID(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`) // the proto's request_id rule
	seen := map[string]bool{}
	for range 100 {
		id := NewRequestID()
		if !valid.MatchString(id) {
			t.Fatalf("NewRequestID() = %q, not a valid request_id", id)
		}
		if seen[id] {
			t.Fatalf("NewRequestID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestTimeoutInterceptor(t *testing.T) {
	ctxWithDeadline, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     context.Context
		want    time.Duration // approximate remaining time the invoker sees; 0 for no deadline
	}{
		{name: "applies timeout", timeout: time.Minute, ctx: context.Background(), want: time.Minute},
		{name: "keeps caller deadline", timeout: time.Minute, ctx: ctxWithDeadline, want: time.Hour},
		{name: "zero timeout leaves no deadline", ctx: context.Background()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got time.Duration
			invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				if d, ok := ctx.Deadline(); ok {
					got = time.Until(d)
				}
				return nil
			}
			if err := timeoutInterceptor(tt.timeout)(tt.ctx, "/m", nil, nil, nil, invoker); err != nil {
				t.Fatal(err)
			}
			if tt.want == 0 && got != 0 || tt.want != 0 && (got > tt.want || got < tt.want-10*time.Second) {
				t.Errorf("invoker saw a deadline %v away, want about %v", got, tt.want)
			}
		})
	}
}
