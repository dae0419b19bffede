package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// PurposeHeader is the metadata key that carries Options.Purpose: the reason
// a partner gives for reading personal data.
const PurposeHeader = "x-epermit-purpose"

// ErrIncompleteKeyPair is returned by Dial when Options names a client
// certificate without its key, or a key without its certificate.
var ErrIncompleteKeyPair = errors.New("client: a client certificate needs both Options.CertFile and Options.KeyFile")

// ErrBadToken is returned by Dial when Options.Token holds characters a
// bearer token cannot carry (anything but printable ASCII without spaces).
// The error never repeats the token.
var ErrBadToken = errors.New("client: the bearer token may hold only printable ASCII characters without spaces")

// ErrBadPurpose is returned by Dial when Options.Purpose is blank, not
// UTF-8 text, or longer than 200 characters.
var ErrBadPurpose = errors.New("client: the purpose must be text of 1-200 characters")

// Options configures a Client.
type Options struct {
	// Timeout is the deadline given to each unary RPC whose context has
	// none; zero leaves such RPCs without a deadline. Streams, such as
	// WatchServiceRequests, get none: they last as long as their context.
	Timeout time.Duration

	// CAFile names a PEM file of the certificate authorities the node's
	// certificate must chain to. When set, Dial always uses TLS, trusting
	// these authorities only.
	CAFile string
	// CertFile and KeyFile name the PEM files of a client certificate and
	// its private key, presented for mutual TLS: systems such as partner
	// nodes authenticate this way. Give both or neither; giving them asks
	// for TLS.
	CertFile string
	KeyFile  string
	// Insecure allows plaintext, which Dial uses only to a loopback address
	// (127.0.0.0/8, ::1, localhost) and only when neither CAFile nor
	// CertFile is set. In every other case Dial uses TLS, trusting the
	// system's certificate authorities when CAFile is not set.
	Insecure bool

	// Token is a bearer token sent with every call as the metadata
	// "authorization: Bearer <token>": people authenticate this way. It is
	// sent only over TLS or in plaintext to a loopback address.
	Token string
	// Purpose, when set, is sent with every call as x-epermit-purpose
	// metadata: partners state why they read personal data, and the node
	// records it in its audit log. gRPC metadata allows printable ASCII
	// only.
	Purpose string
}

// Client is a connection to one permitd node.
type Client struct {
	// Permits is the node's PermitService.
	Permits epermitv1.PermitServiceClient
	// Accounts is the node's AccountService.
	Accounts epermitv1.AccountServiceClient
	// Audit is the node's AuditService.
	Audit epermitv1.AuditServiceClient
	// Applications is the node's ApplicationService.
	Applications epermitv1.ApplicationServiceClient
	// Scenarios is the node's ScenarioService: the catalogue of public
	// services and the service requests for permit holders.
	Scenarios epermitv1.ScenarioServiceClient
	// RateLimits is the node's RateLimitService: the admins' overrides
	// of the rate limits on changes.
	RateLimits epermitv1.RateLimitServiceClient
	// Imports is the node's ImportService: the bulk import of existing
	// residents.
	Imports epermitv1.ImportServiceClient
	// Keys is the node's KeyService: the key compromise drill.
	Keys epermitv1.KeyServiceClient

	conn *grpc.ClientConn
}

// Dial returns a Client for the permitd node at target, written
// "host:port". The connection is made lazily, so a node that cannot be
// reached, or whose certificate is not trusted, is reported by the first
// RPC, with code Unavailable.
//
// Dial reads the TLS files of opts at once and fails, naming the file, when
// one cannot be read or parsed. It fails with ErrIncompleteKeyPair, ErrBadToken
// or ErrBadPurpose as documented there, and when target is malformed.
func Dial(target string, opts Options) (*Client, error) {
	creds, plaintext, err := transportCredentials(target, opts)
	if err != nil {
		return nil, err
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUnaryInterceptor(timeoutInterceptor(opts.Timeout)),
	}
	if opts.Token != "" {
		if !validToken(opts.Token) {
			return nil, ErrBadToken
		}
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearerToken{token: opts.Token, requireTLS: !plaintext}))
	}
	if opts.Purpose != "" {
		if !validPurpose(opts.Purpose) {
			return nil, ErrBadPurpose
		}
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(purpose(encodePurpose(opts.Purpose))))
	}
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", target, err)
	}
	return &Client{
		Permits:      epermitv1.NewPermitServiceClient(conn),
		Accounts:     epermitv1.NewAccountServiceClient(conn),
		Audit:        epermitv1.NewAuditServiceClient(conn),
		Applications: epermitv1.NewApplicationServiceClient(conn),
		Scenarios:    epermitv1.NewScenarioServiceClient(conn),
		RateLimits:   epermitv1.NewRateLimitServiceClient(conn),
		Imports:      epermitv1.NewImportServiceClient(conn),
		Keys:         epermitv1.NewKeyServiceClient(conn),
		conn:         conn,
	}, nil
}

// Close closes the connection; calls in flight fail with Canceled.
func (c *Client) Close() error {
	return c.conn.Close()
}

// crockford is the Crockford base-32 alphabet, in ascending ASCII order so
// that encoded numbers of equal length sort as the numbers do.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// requestIDTimeLen is the length of a request id's time prefix: 10
// characters of base 32 hold 50 bits, milliseconds until the year 37648.
const requestIDTimeLen = 10

// NewRequestID returns a new request id for a mutating request: 36
// characters, the Unix time in milliseconds as 10 characters of Crockford
// base 32, then 26 random characters of base 32 (128 bits from
// crypto/rand). Ids made later sort after ids made earlier, to the
// millisecond.
//
// Time-ordered ids keep the node's store appends local: the node files each
// request id in an ordered index (a B+tree) to apply a retried request at
// most once, and ids that grow with time land at the end of that index
// instead of on random pages across it.
func NewRequestID() string {
	return newRequestID(time.Now())
}

// newRequestID returns a request id made at now.
func newRequestID(now time.Time) string {
	ms := max(now.UnixMilli(), 0)
	ms = min(ms, 1<<(5*requestIDTimeLen)-1)
	var prefix [requestIDTimeLen]byte
	for i := len(prefix) - 1; i >= 0; i-- {
		prefix[i] = crockford[ms&31]
		ms >>= 5
	}
	return string(prefix[:]) + rand.Text()
}

// transportCredentials chooses the transport security for target from opts
// and reports whether it is plaintext.
func transportCredentials(target string, opts Options) (creds credentials.TransportCredentials, plaintext bool, err error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, false, fmt.Errorf("client: target %q is not host:port: %w", target, err)
	}
	if host == "" {
		return nil, false, fmt.Errorf("client: target %q has no host", target)
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, false, ErrIncompleteKeyPair
	}
	if plaintextTo(host, opts) {
		return insecure.NewCredentials(), true, nil
	}
	cfg, err := tlsConfig(opts)
	if err != nil {
		return nil, false, err
	}
	return credentials.NewTLS(cfg), false, nil
}

// Plaintext reports whether Dial would connect to target in plaintext with
// opts, so that callers can explain a failure.
func Plaintext(target string, opts Options) bool {
	host, _, err := net.SplitHostPort(target)
	return err == nil && plaintextTo(host, opts)
}

// plaintextTo reports whether opts ask for plaintext to host: Insecure, no
// TLS file and a loopback host.
func plaintextTo(host string, opts Options) bool {
	return opts.Insecure && opts.CAFile == "" && opts.CertFile == "" && opts.KeyFile == "" && isLoopback(host)
}

// tlsConfig returns the TLS configuration of opts: the roots of CAFile, or
// the system's when it is empty, and the client certificate of CertFile and
// KeyFile, if any.
func tlsConfig(opts Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		data, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("client: reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("client: CA file %s holds no PEM certificate", opts.CAFile)
		}
		cfg.RootCAs = pool
	}
	if opts.CertFile != "" {
		certPEM, err := os.ReadFile(opts.CertFile)
		if err != nil {
			return nil, fmt.Errorf("client: reading the client certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client: reading the client key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client: client certificate %s with key %s: %w", opts.CertFile, opts.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
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

// bearerToken sends a bearer token with every call. requireTLS is false
// only for a plaintext connection Dial has found to be loopback.
type bearerToken struct {
	token      string
	requireTLS bool
}

// Ensure bearerToken is a credentials.PerRPCCredentials.
var _ credentials.PerRPCCredentials = bearerToken{}

// GetRequestMetadata returns the authorization metadata.
func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity reports whether the token may be sent only over
// TLS.
func (b bearerToken) RequireTransportSecurity() bool { return b.requireTLS }

// String hides the token from fmt, should a bearerToken ever be printed.
func (b bearerToken) String() string { return "bearer token (hidden)" }

// GoString hides the token from %#v.
func (b bearerToken) GoString() string { return b.String() }

// purpose sends x-epermit-purpose with every call, over any transport,
// percent-encoded (gRPC metadata carries only printable ASCII; the node
// decodes it).
type purpose string

// Ensure purpose is a credentials.PerRPCCredentials.
var _ credentials.PerRPCCredentials = purpose("")

// GetRequestMetadata returns the purpose metadata.
func (p purpose) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{PurposeHeader: string(p)}, nil
}

// RequireTransportSecurity returns false: a purpose is no secret.
func (purpose) RequireTransportSecurity() bool { return false }

// validToken reports whether s can travel as a bearer token: printable
// ASCII without spaces.
func validToken(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

// validPurpose reports whether s can travel as gRPC metadata and says
// something: printable ASCII, not blank.
func validPurpose(s string) bool {
	return utf8.ValidString(s) && strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= 200 &&
		!strings.ContainsFunc(s, unicode.IsControl)
}

// encodePurpose percent-encodes the bytes of s that gRPC metadata cannot
// carry (and "%" itself), leaving printable ASCII as it is.
func encodePurpose(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if c < ' ' || c > '~' || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
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
