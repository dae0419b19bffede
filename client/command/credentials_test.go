package command

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/client/internal/testpki"
)

// supToken is the token of supervisorAccount on the fake node.
const supToken = "epk_test_U3VwTGlUZXN0VG9rZW4wMDAy"

// startAuthNode starts a fake node that requires credentials and knows
// clerkAccount and supervisorAccount by their tokens.
func startAuthNode(t *testing.T) (*fakeNode, string) {
	t.Helper()
	node, addr := startFakeNode(t, activePermit())
	node.requireCredentials()
	node.accounts.add(clerkAccount(), clerkToken)
	node.accounts.add(supervisorAccount(), supToken)
	return node, addr
}

// writeFile writes content to name in dir with mode perm and returns its
// path.
func writeFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

// TestTokenSources checks where the token comes from: flag, environment,
// config file, in that order, with --token and --token-file one setting.
func TestTokenSources(t *testing.T) {
	_, addr := startAuthNode(t)
	dir := t.TempDir()
	clerkFile := writeFile(t, dir, "clerk.token", clerkToken+"\n", 0o600)
	supFile := writeFile(t, dir, "sup.token", "  "+supToken+"  \r\n", 0o600)
	cfgClerk := writeFile(t, dir, "clerk.yaml", "token: "+clerkToken+"\n", 0o600)
	cfgSupFile := writeFile(t, dir, "cfg/sup.yaml", "token_file: ../sup.token\n", 0o644)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // the account whoami shows
	}{
		{name: "--token", args: []string{"--token", clerkToken}, want: "clerk.wang"},
		{name: "--token-file", args: []string{"--token-file", supFile}, want: "sup.li"},
		{name: "PERMITCTL_TOKEN", env: map[string]string{tokenEnv: supToken}, want: "sup.li"},
		{name: "PERMITCTL_TOKEN_FILE", env: map[string]string{tokenFileEnv: clerkFile}, want: "clerk.wang"},
		{name: "config token", args: []string{"--config", cfgClerk}, want: "clerk.wang"},
		{name: "config token_file relative to the config", args: []string{"--config", cfgSupFile}, want: "sup.li"},
		{name: "PERMITCTL_CONFIG", env: map[string]string{configEnv: cfgSupFile}, want: "sup.li"},
		{name: "flag beats environment", env: map[string]string{tokenEnv: supToken}, args: []string{"--token", clerkToken}, want: "clerk.wang"},
		{name: "--token-file beats PERMITCTL_TOKEN", env: map[string]string{tokenEnv: clerkToken}, args: []string{"--token-file", supFile}, want: "sup.li"},
		{name: "environment beats config", env: map[string]string{tokenFileEnv: supFile}, args: []string{"--config", cfgClerk}, want: "sup.li"},
		{name: "--config beats PERMITCTL_CONFIG", env: map[string]string{configEnv: cfgSupFile}, args: []string{"--config", cfgClerk}, want: "clerk.wang"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, nil, append(append([]string{"--server", addr}, tt.args...), "whoami")...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !strings.Contains(r.stdout, "Name              "+tt.want+"\n") || !strings.Contains(r.stdout, "Authenticated by  token") {
				t.Errorf("whoami shows\n%s\nwant %s", r.stdout, tt.want)
			}
		})
	}
	t.Run("both in the environment", func(t *testing.T) {
		t.Setenv(tokenEnv, clerkToken)
		t.Setenv(tokenFileEnv, supFile)
		r := runCLI(t, nil, "--server", addr, "whoami")
		if r.code != exitFailure || !strings.Contains(r.err.Error(), "either PERMITCTL_TOKEN or PERMITCTL_TOKEN_FILE") {
			t.Errorf("exit %d, err %v", r.code, r.err)
		}
	})
}

// TestTokenNeverPrinted runs permitctl with a token in ways that fail or
// print, and checks that the token appears nowhere.
func TestTokenNeverPrinted(t *testing.T) {
	_, addr := startAuthNode(t)
	dir := t.TempDir()
	const wrong = "epk_test_V3JvbmdUb2tlbk5vdEtub3duMDAwMw"
	openCfg := writeFile(t, dir, "open.yaml", "server: "+addr+"\ntoken: "+clerkToken+"\n", 0o644)
	badYAML := writeFile(t, dir, "bad.yaml", "token: [\""+clerkToken+"\"]\nserver: 1\n", 0o600)
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "help", env: map[string]string{tokenEnv: clerkToken}, args: []string{"--help"}},
		{name: "command help", args: []string{"--token", clerkToken, "whoami", "--help"}},
		{name: "json", args: []string{"--token", clerkToken, "-o", "json", "whoami"}},
		{name: "refused token", args: []string{"--token", wrong, "whoami"}, wantCode: exitFailure, wantErr: "did not accept the token from --token"},
		{name: "refused token from the environment", env: map[string]string{tokenEnv: wrong}, args: []string{"show", "330604-4F7K2M9QXW3B7"},
			wantCode: exitFailure, wantErr: "token from PERMITCTL_TOKEN"},
		{name: "token with a space", args: []string{"--token", clerkToken + " x", "whoami"}, wantCode: exitFailure, wantErr: "printable ASCII"},
		{name: "config readable by others", args: []string{"--config", openCfg, "whoami"}, wantCode: exitFailure, wantErr: "chmod 600 " + openCfg},
		{name: "config that is not as expected", args: []string{"--config", badYAML, "whoami"}, wantCode: exitFailure, wantErr: badYAML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, nil, append([]string{"--server", addr}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d (err %v)", r.code, tt.wantCode, r.err)
			}
			if tt.wantErr != "" && !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Errorf("err %q lacks %q", r.err, tt.wantErr)
			}
			for _, secret := range []string{clerkToken, wrong} {
				for what, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "error": client.Describe(r.err)} {
					if strings.Contains(text, secret) {
						t.Errorf("%s shows the token:\n%s", what, text)
					}
				}
			}
		})
	}
}

// TestUnauthenticatedHint checks the hint given when the node wants
// credentials that were not sent.
func TestUnauthenticatedHint(t *testing.T) {
	_, addr := startAuthNode(t)
	r := runCLI(t, nil, "--server", addr, "show", "330604-4F7K2M9QXW3B7")
	line := client.Describe(r.err)
	if r.code != exitFailure || !strings.HasPrefix(line, "unauthenticated: ") ||
		!strings.Contains(line, "--token-file") || !strings.Contains(line, "--token TOKEN") || strings.Contains(line, "\n") {
		t.Errorf("exit %d, one-line error %q; want unauthenticated with a hint to pass --token or --token-file", r.code, line)
	}
}

// TestPurpose checks that the purpose goes with every call when set, from
// the flag, the environment or the config file.
func TestPurpose(t *testing.T) {
	node, addr := startFakeNode(t, activePermit())
	cfg := writeFile(t, t.TempDir(), "p.yaml", "purpose: from the config file\n", 0o644)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{name: "none"},
		{name: "flag", args: []string{"--purpose", "residence check for school enrolment"}, want: []string{"residence check for school enrolment"}},
		{name: "environment", env: map[string]string{purposeEnv: "social insurance transfer"}, want: []string{"social insurance transfer"}},
		{name: "config", args: []string{"--config", cfg}, want: []string{"from the config file"}},
		{name: "flag beats config", args: []string{"--config", cfg, "--purpose", "flag"}, want: []string{"flag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, nil, append(append([]string{"--server", addr}, tt.args...), "show", "330604-4F7K2M9QXW3B7")...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			got := node.lastCall(t).md.Get(client.PurposeHeader)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("node saw purpose %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("hint when the node wants one", func(t *testing.T) {
		node, addr := startFakeNode(t, activePermit())
		st, _ := status.New(codes.InvalidArgument, "a partner must state a purpose").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "x-epermit-purpose", Reason: "REQUIRED"}},
		})
		node.fail("/epermit.v1.PermitService/GetPermit", st.Err())
		r := runCLI(t, nil, "--server", addr, "show", "330604-4F7K2M9QXW3B7")
		if r.code != exitFailure || !strings.Contains(r.err.Error(), "--purpose TEXT or PERMITCTL_PURPOSE") {
			t.Errorf("exit %d, err %v; want a hint to pass --purpose", r.code, r.err)
		}
	})
}

// TestRateLimited checks that the one-line error of a rate-limited change
// says when to retry.
func TestRateLimited(t *testing.T) {
	node, addr := startFakeNode(t, activePermit())
	st, _ := status.New(codes.ResourceExhausted, "too many changes by clerk.wang").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(2 * time.Second)})
	node.fail("/epermit.v1.PermitService/EndorsePermit", st.Err())
	r := runCLI(t, nil, "--server", addr, "endorse", "330604-4F7K2M9QXW3B7", "--if-version", "3")
	line := "permitctl: " + client.Describe(r.err) // as main prints it
	if r.code != exitFailure || line != "permitctl: resource exhausted: too many changes by clerk.wang; retry after 2s" {
		t.Errorf("exit %d, %q", r.code, line)
	}

	node.fail("/epermit.v1.PermitService/SuspendPermit", status.Error(codes.ResourceExhausted, "slow down"))
	r = runCLI(t, nil, "--server", addr, "suspend", "330604-4F7K2M9QXW3B7", "--if-version", "3", "--reason", "测试")
	if r.code != exitFailure || client.Describe(r.err) != "resource exhausted: slow down (the node is limiting requests; try again later)" {
		t.Errorf("without RetryInfo: exit %d, %q", r.code, client.Describe(r.err))
	}
}

// TestTLSFlags runs permitctl against a fake node serving TLS, which takes
// a client certificate when one is given.
func TestTLSFlags(t *testing.T) {
	ca := testpki.NewCA(t, "node-ca")
	server := ca.Server(t)
	partner := ca.Client(t, "partner-320502")
	node, addr := startFakeNodeWith(t, fakeNodeConfig{tls: &tls.Config{
		Certificates: []tls.Certificate{server.TLS},
		ClientCAs:    ca.Pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}}, activePermit())
	node.requireCredentials()
	node.accounts.add(clerkAccount(), clerkToken)
	p := partnerAccount()
	p.Disabled = false
	node.accounts.add(p, "")

	dir := t.TempDir()
	cfg := writeFile(t, dir, "tls.yaml", "server: "+addr+"\nca: "+ca.CertFile+"\ncert: "+partner.CertFile+"\nkey: "+partner.KeyFile+"\n", 0o644)
	missing := filepath.Join(dir, "missing-ca.pem")
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		want     string // whoami's name and how it authenticated, or an error
		wantCode int
	}{
		{name: "--ca and a token", args: []string{"--server", addr, "--ca", ca.CertFile, "--token", clerkToken, "whoami"}, want: "clerk.wang by token"},
		{name: "client certificate", args: []string{"--server", addr, "--ca", ca.CertFile, "--cert", partner.CertFile, "--key", partner.KeyFile, "whoami"},
			want: "partner-320502 by certificate"},
		{name: "environment", env: map[string]string{caEnv: ca.CertFile, certEnv: partner.CertFile, keyEnv: partner.KeyFile, serverEnv: addr},
			args: []string{"whoami"}, want: "partner-320502 by certificate"},
		{name: "config file", args: []string{"--config", cfg, "whoami"}, want: "partner-320502 by certificate"},
		{name: "verify online takes --key as the client key",
			args: []string{"--server", addr, "--ca", ca.CertFile, "--cert", partner.CertFile, "verify", "--key", partner.KeyFile, "--id", "330604-4F7K2M9QXW3B7"},
			want: "VALID"},
		{name: "no --ca: plaintext to loopback fails", args: []string{"--server", addr, "--token", clerkToken, "--timeout", "5s", "whoami"},
			want: "if the node serves TLS, pass --ca FILE", wantCode: exitFailure},
		{name: "missing CA file", args: []string{"--server", addr, "--ca", missing, "whoami"}, want: missing, wantCode: exitFailure},
		{name: "key file that is the certificate", args: []string{"--server", addr, "--ca", ca.CertFile, "--cert", partner.CertFile, "--key", partner.CertFile, "whoami"},
			want: partner.CertFile, wantCode: exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, nil, tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d (err %v)\n%s", r.code, tt.wantCode, r.err, r.stdout)
			}
			got := r.stdout
			if r.err != nil {
				got = client.Describe(r.err)
			} else if name, by, ok := whoamiOf(r.stdout); ok {
				got = name + " by " + by
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// whoamiOf picks the name and the way of authenticating out of whoami's
// table.
func whoamiOf(out string) (name, by string, ok bool) {
	for line := range strings.SplitSeq(out, "\n") {
		if v, found := strings.CutPrefix(line, "Name"); found {
			name = strings.TrimSpace(v)
		}
		if v, found := strings.CutPrefix(line, "Authenticated by"); found {
			by = strings.TrimSpace(v)
		}
	}
	return name, by, name != "" && by != ""
}

// TestWhoAmIJSON checks whoami -o json against the fake node.
func TestWhoAmIJSON(t *testing.T) {
	_, addr := startAuthNode(t)
	r := runCLI(t, nil, "--server", addr, "--token", supToken, "-o", "json", "whoami")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{`"name": "sup.li"`, `"authenticated_by": "token"`, `"ROLE_SUPERVISOR"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %s:\n%s", want, r.stdout)
		}
	}
}
