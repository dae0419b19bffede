package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// ErrNoTransportSecurity is returned by Dial when Options asks for neither
// plaintext nor any transport security the library supports.
var ErrNoTransportSecurity = errors.New("client: no transport security configured; set Options.Insecure to dial a loopback node in plaintext")

// ErrPlaintextNotLoopback is returned by Dial when plaintext is asked for to
// an address that is not loopback (127.0.0.0/8, ::1, localhost).
var ErrPlaintextNotLoopback = errors.New("client: plaintext is allowed only to a loopback address (127.0.0.0/8, ::1, localhost)")

// Options configures a Client.
type Options struct {
	// Timeout is the deadline given to each RPC whose context has none;
	// zero leaves such RPCs without a deadline.
	Timeout time.Duration
	// Insecure allows a plaintext connection. Dial still refuses plaintext
	// to any address that is not loopback.
	Insecure bool
}

// Client is a connection to one permitd node.
type Client struct {
	// Permits is the node's PermitService.
	Permits epermitv1.PermitServiceClient

	conn *grpc.ClientConn
}

// Dial returns a Client for the permitd node at target, written
// "host:port". The connection is made lazily, so a node that cannot be
// reached is reported by the first RPC, with code Unavailable. Dial fails
// when target is malformed, with ErrNoTransportSecurity when opts allow no
// transport, and with ErrPlaintextNotLoopback when plaintext is asked for to
// an address that is not loopback.
func Dial(target string, opts Options) (*Client, error) {
	creds, err := transportCredentials(target, opts)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(creds),
		grpc.WithUnaryInterceptor(timeoutInterceptor(opts.Timeout)),
	)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", target, err)
	}
	return &Client{Permits: epermitv1.NewPermitServiceClient(conn), conn: conn}, nil
}

// Close closes the connection; calls in flight fail with Canceled.
func (c *Client) Close() error {
	return c.conn.Close()
}

// NewRequestID returns a random request id (128 bits, 26 characters of
// base32) for a mutating request.
func NewRequestID() string {
	return rand.Text()
}

// transportCredentials chooses the transport security for target from opts.
func transportCredentials(target string, opts Options) (credentials.TransportCredentials, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("client: target %q is not host:port: %w", target, err)
	}
	if host == "" {
		return nil, fmt.Errorf("client: target %q has no host", target)
	}
	if !opts.Insecure {
		return nil, ErrNoTransportSecurity
	}
	if !isLoopback(host) {
		return nil, fmt.Errorf("%w; %s is not", ErrPlaintextNotLoopback, host)
	}
	return insecure.NewCredentials(), nil
}

// isLoopback reports whether host names this machine: localhost or a
// loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// timeoutInterceptor gives each RPC whose context has no deadline the
// deadline d; d <= 0 leaves contexts alone.
func timeoutInterceptor(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
