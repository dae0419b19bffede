package command

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// fakeKeys is a KeyService whose ResignPermits streams the responses it is
// given and then ends with end.
type fakeKeys struct {
	epermitv1.UnimplementedKeyServiceServer
	responses []*epermitv1.ResignPermitsResponse
	end       error
}

func (f *fakeKeys) ResignPermits(_ *epermitv1.ResignPermitsRequest, stream epermitv1.KeyService_ResignPermitsServer) error {
	for _, r := range f.responses {
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	return f.end
}

// startFakeKeys serves f on loopback and returns its address.
func startFakeKeys(t *testing.T, f *fakeKeys) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	epermitv1.RegisterKeyServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// TestKeyResign: the summary and the credentials file of a drill that
// completes; a drill that stops leaves no credentials file and says to
// run it again.
func TestKeyResign(t *testing.T) {
	cred := func(id string) *epermitv1.ResignedCredential {
		return &epermitv1.ResignedCredential{PermitId: id, Version: 3,
			Credential: &epermitv1.Credential{Text: "YRD1:" + id, Kid: "5b0f0c1d2e3f4a5b"}}
	}
	responses := []*epermitv1.ResignPermitsResponse{
		{Total: 2, Kid: "5b0f0c1d2e3f4a5b"},
		{Total: 2, Resigned: 1, Skipped: 1, LastPermitId: "330604-B", Kid: "5b0f0c1d2e3f4a5b", Credentials: []*epermitv1.ResignedCredential{cred("330604-A")}},
		{Total: 2, Resigned: 2, Skipped: 1, LastPermitId: "330604-C", Kid: "5b0f0c1d2e3f4a5b", Credentials: []*epermitv1.ResignedCredential{cred("330604-C")}},
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "creds.jsonl")
	addr := startFakeKeys(t, &fakeKeys{responses: responses})
	r := runCLI(t, nil, "--server", addr, "key", "resign", "--compromised", "21fe31dfa154a261", "--credentials", file, "--yes", "-o", "json")
	if r.err != nil {
		t.Fatalf("key resign: %v\n%s", r.err, r.stderr)
	}
	var sum resignSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("summary %q: %v", r.stdout, err)
	}
	if sum.Total != 2 || sum.Resigned != 2 || sum.Skipped != 1 || sum.Credentials != 2 || sum.KID != "5b0f0c1d2e3f4a5b" {
		t.Errorf("summary %+v", sum)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var first credentialLine
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.PermitID != "330604-A" ||
		first.Credential != "YRD1:330604-A" || first.KID != "5b0f0c1d2e3f4a5b" {
		t.Errorf("credentials file:\n%s", b)
	}

	stopped := filepath.Join(dir, "stopped.jsonl")
	addr = startFakeKeys(t, &fakeKeys{responses: responses[:2], end: status.Error(codes.Unavailable, "node going away")})
	r = runCLI(t, nil, "--server", addr, "key", "resign", "--compromised", "21fe31dfa154a261", "--credentials", stopped, "--yes")
	if r.err == nil || !strings.Contains(r.err.Error(), "1 of 2 permits re-signed") || !strings.Contains(r.err.Error(), "run the same command again") {
		t.Errorf("stopped drill: %v", r.err)
	}
	for _, f := range []string{stopped, stopped + ".tmp"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after a stopped drill: %v, want none", f, err)
		}
	}
}
