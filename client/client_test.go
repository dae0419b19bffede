package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/client/internal/testpki"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestTransportChoice checks which transport Dial picks for each target and
// set of options.
func TestTransportChoice(t *testing.T) {
	ca := testpki.NewCA(t, "test-ca")
	cert := ca.Client(t, "partner-320502")
	tests := []struct {
		name          string
		target        string
		opts          Options
		wantPlaintext bool
		wantErr       error // nil: no error; errAny: any error
	}{
		{name: "ipv4 loopback", target: "127.0.0.1:7700", opts: Options{Insecure: true}, wantPlaintext: true},
		{name: "other 127/8 address", target: "127.10.0.3:7700", opts: Options{Insecure: true}, wantPlaintext: true},
		{name: "ipv6 loopback", target: "[::1]:7700", opts: Options{Insecure: true}, wantPlaintext: true},
		{name: "localhost", target: "localhost:7700", opts: Options{Insecure: true}, wantPlaintext: true},
		{name: "localhost upper case", target: "LOCALHOST:7700", opts: Options{Insecure: true}, wantPlaintext: true},
		{name: "loopback with a token", target: "127.0.0.1:7700", opts: Options{Insecure: true, Token: "t"}, wantPlaintext: true},
		{name: "loopback without Insecure uses TLS", target: "127.0.0.1:7700"},
		{name: "loopback with a CA file uses TLS", target: "127.0.0.1:7700", opts: Options{Insecure: true, CAFile: ca.CertFile}},
		{name: "loopback with a client certificate uses TLS", target: "127.0.0.1:7700",
			opts: Options{Insecure: true, CertFile: cert.CertFile, KeyFile: cert.KeyFile}},
		{name: "private address uses TLS", target: "10.0.0.5:7700", opts: Options{Insecure: true}},
		{name: "public address uses TLS", target: "203.0.113.7:7700", opts: Options{Insecure: true}},
		{name: "host name uses TLS", target: "permitd.example.com:7700", opts: Options{Insecure: true}},
		{name: "unspecified address uses TLS", target: "0.0.0.0:7700", opts: Options{Insecure: true}},
		{name: "ipv6 mapped non-loopback uses TLS", target: "[::ffff:10.0.0.5]:7700", opts: Options{Insecure: true}},
		{name: "host name with a CA file", target: "permitd.example.com:7700", opts: Options{CAFile: ca.CertFile}},
		{name: "certificate without key", target: "127.0.0.1:7700", opts: Options{CertFile: cert.CertFile}, wantErr: ErrIncompleteKeyPair},
		{name: "key without certificate", target: "127.0.0.1:7700", opts: Options{KeyFile: cert.KeyFile}, wantErr: ErrIncompleteKeyPair},
		{name: "no port", target: "127.0.0.1", opts: Options{Insecure: true}, wantErr: errAny},
		{name: "no host", target: ":7700", opts: Options{Insecure: true}, wantErr: errAny},
		{name: "scheme", target: "dns:///127.0.0.1:7700", opts: Options{Insecure: true}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, plaintext, err := transportCredentials(tt.target, tt.opts)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("transportCredentials(%q) = %v, want success", tt.target, err)
			case tt.wantErr == nil:
				wantProtocol := map[bool]string{true: "insecure", false: "tls"}[tt.wantPlaintext]
				if plaintext != tt.wantPlaintext || creds.Info().SecurityProtocol != wantProtocol {
					t.Errorf("plaintext = %v with %q, want %v", plaintext, creds.Info().SecurityProtocol, tt.wantPlaintext)
				}
			case err == nil:
				t.Fatalf("transportCredentials(%q) succeeded, want an error", tt.target)
			case tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("transportCredentials(%q) = %v, want %v", tt.target, err, tt.wantErr)
			}
			if err == nil && Plaintext(tt.target, tt.opts) != plaintext {
				t.Errorf("Plaintext() = %v, but transportCredentials chose %v", !plaintext, plaintext)
			}
			c, err := Dial(tt.target, tt.opts)
			if (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Dial(%q) = %v, but transportCredentials did not agree", tt.target, err)
			}
			if c != nil {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		})
	}
}

// errAny stands for "some error" in the tables of this file.
var errAny = errors.New("any error")

// TestDialErrors checks that Dial refuses bad TLS files, naming the file,
// and bad tokens and purposes, without repeating the token.
func TestDialErrors(t *testing.T) {
	ca := testpki.NewCA(t, "test-ca")
	cert := ca.Client(t, "partner-320502")
	other := ca.Client(t, "partner-310101")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-pem.txt")
	if err := os.WriteFile(notPEM, []byte("测试: not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	const secret = "epk_SECRET-测试-token"
	tests := []struct {
		name     string
		opts     Options
		wantErr  error    // errAny: any error
		wantText []string // the message names these
	}{
		{name: "missing CA file", opts: Options{CAFile: missing}, wantErr: errAny, wantText: []string{missing, "CA file"}},
		{name: "CA file without PEM", opts: Options{CAFile: notPEM}, wantErr: errAny, wantText: []string{notPEM, "CA file"}},
		{name: "missing certificate file", opts: Options{CertFile: missing, KeyFile: cert.KeyFile}, wantErr: errAny,
			wantText: []string{missing, "client certificate"}},
		{name: "missing key file", opts: Options{CertFile: cert.CertFile, KeyFile: missing}, wantErr: errAny,
			wantText: []string{missing, "client key"}},
		{name: "certificate file without PEM", opts: Options{CertFile: notPEM, KeyFile: cert.KeyFile}, wantErr: errAny,
			wantText: []string{notPEM, cert.KeyFile}},
		{name: "key of another certificate", opts: Options{CertFile: cert.CertFile, KeyFile: other.KeyFile}, wantErr: errAny,
			wantText: []string{cert.CertFile, other.KeyFile, "does not match"}},
		{name: "certificate without key", opts: Options{CertFile: cert.CertFile}, wantErr: ErrIncompleteKeyPair},
		{name: "token with non-ASCII", opts: Options{Insecure: true, Token: secret}, wantErr: ErrBadToken},
		{name: "token with a space", opts: Options{Insecure: true, Token: "epk_SECRET token"}, wantErr: ErrBadToken},
		{name: "token with a newline", opts: Options{Insecure: true, Token: "epk_SECRET\n"}, wantErr: ErrBadToken},
		{name: "purpose of 201 characters", opts: Options{Insecure: true, Purpose: strings.Repeat("核", 201)}, wantErr: ErrBadPurpose},
		{name: "purpose with a newline", opts: Options{Insecure: true, Purpose: "residence\ncheck"}, wantErr: ErrBadPurpose},
		{name: "blank purpose", opts: Options{Insecure: true, Purpose: "   "}, wantErr: ErrBadPurpose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial("127.0.0.1:7700", tt.opts)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded, want an error")
			}
			if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Dial = %v, want %v", err, tt.wantErr)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q repeats the token", err)
			}
		})
	}
}

// echoAccounts answers WhoAmI with what the node saw of the caller: the
// client certificate's common name or the bearer token as the name, how the
// caller authenticated, and the purposes stated, joined by "|", as the note.
type echoAccounts struct {
	epermitv1.UnimplementedAccountServiceServer
}

func (echoAccounts) WhoAmI(ctx context.Context, _ *epermitv1.WhoAmIRequest) (*epermitv1.WhoAmIResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	resp := &epermitv1.WhoAmIResponse{Account: &epermitv1.Account{Note: strings.Join(md.Get(PurposeHeader), "|")}}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			resp.Account.Name = info.State.PeerCertificates[0].Subject.CommonName
			resp.AuthenticatedBy = "certificate"
		}
	}
	if auth := md.Get("authorization"); len(auth) > 0 {
		token, ok := strings.CutPrefix(auth[0], "Bearer ")
		if !ok || len(auth) > 1 {
			return nil, status.Error(codes.Unauthenticated, "malformed authorization metadata")
		}
		resp.Account.Name = token
		resp.AuthenticatedBy = "token"
	}
	return resp, nil
}

// startEcho serves echoAccounts on a loopback port, in plaintext when cfg
// is nil and with TLS otherwise, and returns its port.
func startEcho(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if cfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	srv := grpc.NewServer(opts...)
	epermitv1.RegisterAccountServiceServer(srv, echoAccounts{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return port
}

// TestDialNode dials real loopback gRPC servers, in plaintext, with TLS and
// with mutual TLS, and checks what reaches the server.
func TestDialNode(t *testing.T) {
	ca := testpki.NewCA(t, "node-ca")
	otherCA := testpki.NewCA(t, "other-ca")
	server := ca.Server(t)
	partner := ca.Client(t, "partner-320502")
	stranger := otherCA.Client(t, "partner-999999")

	plain := startEcho(t, nil)
	tlsOnly := startEcho(t, &tls.Config{Certificates: []tls.Certificate{server.TLS}, MinVersion: tls.VersionTLS12})
	mutual := startEcho(t, &tls.Config{
		Certificates: []tls.Certificate{server.TLS},
		ClientCAs:    ca.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})

	tests := []struct {
		name     string
		target   string
		opts     Options
		wantName string // the caller as the server saw it
		wantBy   string
		wantNote string // the purposes the server saw
		wantErr  string // a failing call's error contains this, in lower case
	}{
		{name: "plaintext with token and purpose", target: "127.0.0.1:" + plain,
			opts:     Options{Insecure: true, Token: "epk_clerk-1", Purpose: "residence check 2026/03"},
			wantName: "epk_clerk-1", wantBy: "token", wantNote: "residence check 2026/03"},
		{name: "plaintext without credentials", target: "127.0.0.1:" + plain, opts: Options{Insecure: true}},
		{name: "TLS with a CA file and a token", target: "127.0.0.1:" + tlsOnly,
			opts:     Options{CAFile: ca.CertFile, Token: "epk_clerk-2"},
			wantName: "epk_clerk-2", wantBy: "token"},
		{name: "TLS by host name", target: "localhost:" + tlsOnly,
			opts: Options{CAFile: ca.CertFile, Insecure: true, Purpose: "p"}, wantNote: "p"},
		{name: "mutual TLS", target: "127.0.0.1:" + mutual,
			opts:     Options{CAFile: ca.CertFile, CertFile: partner.CertFile, KeyFile: partner.KeyFile, Purpose: "cross-division check"},
			wantName: "partner-320502", wantBy: "certificate", wantNote: "cross-division check"},
		{name: "mutual TLS without a client certificate", target: "127.0.0.1:" + mutual,
			opts: Options{CAFile: ca.CertFile}, wantErr: "unavailable"},
		{name: "mutual TLS with a certificate of another CA", target: "127.0.0.1:" + mutual,
			opts:    Options{CAFile: ca.CertFile, CertFile: stranger.CertFile, KeyFile: stranger.KeyFile},
			wantErr: "unavailable"},
		{name: "server certificate of an untrusted CA", target: "127.0.0.1:" + tlsOnly,
			opts: Options{CAFile: otherCA.CertFile}, wantErr: "certificate"},
		{name: "system roots do not trust a test CA", target: "127.0.0.1:" + tlsOnly,
			opts: Options{}, wantErr: "certificate"},
		{name: "plaintext to a TLS server", target: "127.0.0.1:" + tlsOnly, opts: Options{Insecure: true}, wantErr: "unavailable"},
		{name: "TLS to a plaintext server", target: "127.0.0.1:" + plain, opts: Options{CAFile: ca.CertFile}, wantErr: "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Timeout = 5 * time.Second
			c, err := Dial(tt.target, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			resp, err := c.Accounts.WhoAmI(context.Background(), &epermitv1.WhoAmIRequest{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(strings.ToLower(Describe(err)), tt.wantErr) {
					t.Fatalf("WhoAmI = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetAccount().GetName(); got != tt.wantName || resp.GetAuthenticatedBy() != tt.wantBy {
				t.Errorf("server saw %q by %q, want %q by %q", got, resp.GetAuthenticatedBy(), tt.wantName, tt.wantBy)
			}
			if got := resp.GetAccount().GetNote(); got != tt.wantNote {
				t.Errorf("server saw purpose %q, want %q", got, tt.wantNote)
			}
		})
	}
}

// TestBearerTokenHidden checks that printing the credentials does not show
// the token.
func TestBearerTokenHidden(t *testing.T) {
	b := bearerToken{token: "epk_SECRET"}
	for _, s := range []string{b.String(), b.GoString()} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("printed %q", s)
		}
	}
	md, err := b.GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer epk_SECRET" {
		t.Errorf("metadata %v, %v", md, err)
	}
}

func TestNewRequestID(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`) // the proto's request_id rule
	seen := map[string]bool{}
	for range 1000 {
		id := NewRequestID()
		if !valid.MatchString(id) || len(id) != 36 {
			t.Fatalf("NewRequestID() = %q, not a valid 36-character request_id", id)
		}
		if seen[id] {
			t.Fatalf("NewRequestID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestRequestIDTimePrefix(t *testing.T) {
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.UnixMilli(0), "0000000000"},
		{time.UnixMilli(31), "000000000Z"},
		{time.UnixMilli(32), "0000000010"},
		{time.UnixMilli(-5), "0000000000"},
		{time.UnixMilli(1<<50 - 1), "ZZZZZZZZZZ"},
		{time.UnixMilli(1 << 52), "ZZZZZZZZZZ"},
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "01KJKB3Q00"},
	}
	for _, tt := range tests {
		if got := newRequestID(tt.at)[:requestIDTimeLen]; got != tt.want {
			t.Errorf("time prefix at %d ms = %q, want %q", tt.at.UnixMilli(), got, tt.want)
		}
	}
}

// TestRequestIDsSortByTime makes ids at increasing times, some a
// millisecond apart and some years apart, and checks that they sort in the
// order they were made.
func TestRequestIDsSortByTime(t *testing.T) {
	start := time.Date(2026, 3, 1, 8, 59, 59, 999_000_000, time.UTC)
	var ids []string
	at := start
	for i := range 200 {
		ids = append(ids, newRequestID(at))
		step := time.Millisecond
		if i%10 == 9 {
			step = time.Duration(i) * 97 * time.Hour
		}
		at = at.Add(step)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids made in time order do not sort:\n%s", strings.Join(ids, "\n"))
	}
	for _, id := range ids {
		if len(id) != len(ids[0]) {
			t.Fatalf("id %q is not as long as %q", id, ids[0])
		}
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
