package command

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/client/internal/testpki"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

func TestShow(t *testing.T) {
	p := suspendedPermit()
	_, addr := startFakeNode(t, p)

	r := runCLI(t, nil, "--server", addr, "show", p.GetId())
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{p.GetId(), "欧阳测试者乙·阿依", "110101199003074514", "suspended", "2025-07-15 (due 2025-06-01, late)", testCredentialText} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runCLI(t, nil, "--server", addr, "-o", "json", "show", p.GetId())
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got epermitv1.GetPermitResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("show -o json: %v\n%s", err, r.stdout)
	}
	mustEqual(t, &got, &epermitv1.GetPermitResponse{Permit: p, Credential: activeCredential()})

	r = runCLI(t, nil, "--server", addr, "show", "330604-000000000000X")
	if r.code != exitFailure || r.err == nil || !strings.Contains(r.err.Error(), "not found") {
		t.Errorf("show of a missing permit: exit %d, err %v", r.code, r.err)
	}
}

func TestList(t *testing.T) {
	_, addr := startFakeNode(t, activePermit(), suspendedPermit(), confiscatedPermit())
	tests := []struct {
		name       string
		args       []string
		wantIDs    []string
		wantStderr string
	}{
		{name: "one page", args: []string{"--page-size", "2"},
			wantIDs:    []string{"330604-4F7K2M9QXW3B7", "330604-7QW2M4K9XB3F1"},
			wantStderr: "--page-token 2"},
		{name: "next page", args: []string{"--page-size", "2", "--page-token", "2"},
			wantIDs: []string{"330604-9X3B7F4K2M8Q5"}},
		{name: "all pages", args: []string{"--page-size", "1", "--all"},
			wantIDs: []string{"330604-4F7K2M9QXW3B7", "330604-7QW2M4K9XB3F1", "330604-9X3B7F4K2M8Q5"}},
		{name: "by status", args: []string{"--status", "confiscated"},
			wantIDs: []string{"330604-9X3B7F4K2M8Q5"}},
		{name: "none", args: []string{"--status", "expired"}, wantStderr: "No permits found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, append([]string{"--server", addr, "list"}, tt.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			var ids []string
			for i, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				if i > 0 {
					ids = append(ids, strings.Fields(line)[0])
				}
			}
			if strings.Join(ids, " ") != strings.Join(tt.wantIDs, " ") {
				t.Errorf("listed %v, want %v\n%s", ids, tt.wantIDs, r.stdout)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) || tt.wantStderr == "" && r.stderr != "" {
				t.Errorf("stderr = %q, want %q", r.stderr, tt.wantStderr)
			}
			if strings.Contains(r.stdout, "199001011231") {
				t.Errorf("table shows a citizen id unmasked:\n%s", r.stdout)
			}

			r = runCLI(t, nil, append([]string{"--server", addr, "list", "-o", "json"}, tt.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			var got epermitv1.ListPermitsResponse
			if err := protojson.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("list -o json: %v\n%s", err, r.stdout)
			}
			if len(got.GetPermits()) != len(tt.wantIDs) {
				t.Errorf("JSON lists %d permits, want %d", len(got.GetPermits()), len(tt.wantIDs))
			}
		})
	}
}

// TestMutations checks that each mutation sends what the flags say, with
// the version read from the node unless --if-version is given.
func TestMutations(t *testing.T) {
	p := activePermit()
	id := p.GetId()
	cred := activeCredential().GetText()
	tests := []struct {
		name string
		args []string
		want proto.Message
	}{
		{
			name: "endorse",
			args: []string{"endorse", id, "--request-id", "r1"},
			want: &epermitv1.EndorsePermitRequest{RequestId: "r1", PermitId: id, Version: 3},
		},
		{
			name: "endorse at a given version",
			args: []string{"endorse", id, "--request-id", "r2", "--if-version", "3"},
			want: &epermitv1.EndorsePermitRequest{RequestId: "r2", PermitId: id, Version: 3},
		},
		{
			name: "suspend",
			args: []string{"suspend", id, "--reason", "居住地址核查中", "--request-id", "r3"},
			want: &epermitv1.SuspendPermitRequest{RequestId: "r3", PermitId: id, Version: 3, Reason: "居住地址核查中"},
		},
		{
			name: "reinstate",
			args: []string{"reinstate", id, "--if-version", "3", "--request-id", "r4"},
			want: &epermitv1.ReinstatePermitRequest{RequestId: "r4", PermitId: id, Version: 3},
		},
		{
			name: "issue",
			args: []string{"issue", "--name", "测试者丁", "--citizen-id", "330604200002298885", "--ethnicity", "汉",
				"--hukou-address", "浙江省绍兴市测试路4号", "--residence-address", "浙江省绍兴市上虞区测试路5号",
				"--residence-start", "2026-01-05", "--request-id", "r5"},
			want: &epermitv1.IssuePermitRequest{
				RequestId: "r5",
				Holder: &epermitv1.Holder{Name: "测试者丁", CitizenId: "330604200002298885", Ethnicity: "汉",
					HukouAddress: "浙江省绍兴市测试路4号"},
				ResidenceAddress:   "浙江省绍兴市上虞区测试路5号",
				ResidenceStartDate: "2026-01-05",
			},
		},
		{
			name: "transfer",
			args: []string{"transfer", "--citizen-id", "330604200002298885", "--residence-address", "浙江省杭州市余杭区测试路9号",
				"--request-id", "r6", cred},
			want: &epermitv1.TransferPermitRequest{RequestId: "r6", CredentialText: cred, CitizenId: "330604200002298885",
				ResidenceAddress: "浙江省杭州市余杭区测试路9号"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, addr := startFakeNode(t, p)
			r := runCLI(t, nil, append([]string{"--server", addr}, tt.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			got := node.received()
			if len(got) != 1 {
				t.Fatalf("node received %v, want one request", got)
			}
			mustEqual(t, got[0], tt.want)
			if !strings.Contains(r.stdout, "Version") {
				t.Errorf("output does not show the permit:\n%s", r.stdout)
			}
		})
	}
	t.Run("random request ids", func(t *testing.T) {
		node, addr := startFakeNode(t, p)
		for range 2 {
			if r := runCLI(t, nil, "--server", addr, "reinstate", id); r.err != nil {
				t.Fatal(r.err)
			}
		}
		got := node.received()
		a, b := got[0].(*epermitv1.ReinstatePermitRequest).GetRequestId(), got[1].(*epermitv1.ReinstatePermitRequest).GetRequestId()
		if a == "" || a == b {
			t.Errorf("request ids %q and %q, want two different random ids", a, b)
		}
	})
	t.Run("stale version", func(t *testing.T) {
		_, addr := startFakeNode(t, p)
		r := runCLI(t, nil, "--server", addr, "endorse", id, "--if-version", "1")
		if r.code != exitFailure || !strings.Contains(r.err.Error(), "version 3, not 1") {
			t.Errorf("exit %d, err %v; want aborted", r.code, r.err)
		}
	})
}

func TestVerify(t *testing.T) {
	_, addr := startFakeNode(t, activePermit(), confiscatedPermit())
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		want     string
	}{
		{name: "valid credential", args: []string{testCredentialText}, wantCode: 0, want: "VALID\n✓ format"},
		{name: "credential on stdin", stdin: "  " + testCredentialText + "\n", args: []string{"-"}, wantCode: 0, want: "VALID"},
		{name: "credential piped without -", stdin: testCredentialText + "\n", wantCode: 0, want: "VALID"},
		{name: "not valid credential", args: []string{"YRD1:NOTVALID"}, wantCode: exitNotValid, want: "NOT VALID"},
		{name: "valid id", args: []string{"--id", "330604-4F7K2M9QXW3B7"}, wantCode: 0, want: "VALID"},
		{name: "confiscated id", args: []string{"--id", "330604-9X3B7F4K2M8Q5"}, wantCode: exitNotValid, want: "✗ status"},
		{name: "json keeps the exit status", args: []string{"-o", "json", "--id", "330604-9X3B7F4K2M8Q5"}, wantCode: exitNotValid, want: `"verdict": "VERDICT_NOT_VALID"`},
		{name: "empty stdin", args: []string{"-"}, wantCode: exitUsage},
		{name: "id and text", args: []string{"--id", "330604-4F7K2M9QXW3B7", testCredentialText}, wantCode: exitUsage},
		{name: "key without offline", args: []string{"--key", "k.pem", testCredentialText}, wantCode: exitUsage},
		{name: "offline without key", args: []string{"--offline", testCredentialText}, wantCode: exitUsage},
		{name: "offline with id", args: []string{"--offline", "--key", "k.pem", "--id", "330604-4F7K2M9QXW3B7"}, wantCode: exitUsage},
		{name: "two texts", args: []string{"a", "b"}, wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, strings.NewReader(tt.stdin), append([]string{"--server", addr, "verify"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit status %d, want %d (err %v)\n%s", r.code, tt.wantCode, r.err, r.stdout)
			}
			if !strings.Contains(r.stdout, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, r.stdout)
			}
		})
	}
}

func TestKeyExport(t *testing.T) {
	_, addr := startFakeNode(t)
	key := issuerKey()

	r := runCLI(t, nil, "--server", addr, "key", "export")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.stdout != key.GetPublicKeyPem() {
		t.Errorf("stdout = %q, want only the PEM", r.stdout)
	}
	if !strings.Contains(r.stderr, "9c1f0e6d2b7a4c35") {
		t.Errorf("stderr lacks the key id: %q", r.stderr)
	}

	file := filepath.Join(t.TempDir(), "330604.pem")
	r = runCLI(t, nil, "--server", addr, "key", "export", "--out", file)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != key.GetPublicKeyPem() {
		t.Errorf("file holds %q (%v), want the PEM", b, err)
	}
	for _, want := range []string{file, "330604", "9c1f0e6d2b7a4c35", "EdDSA"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q: %q", want, r.stdout)
		}
	}

	r = runCLI(t, nil, "--server", addr, "key", "export", "-o", "json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got epermitv1.GetIssuerKeyResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, &got, key)
}

func TestQR(t *testing.T) {
	p := activePermit()
	_, addr := startFakeNode(t, p)

	r := runCLI(t, nil, "--server", addr, "qr", p.GetId())
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stdout, "▀") || !strings.HasSuffix(r.stdout, testCredentialText+"\n") {
		t.Errorf("qr output is not a half-block drawing followed by the text:\n%s", r.stdout)
	}

	file := filepath.Join(t.TempDir(), "permit.png")
	r = runCLI(t, nil, "--server", addr, "qr", p.GetId(), "--png", file, "--size", "300")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("--png did not write a PNG (%v)", err)
	}
	if !strings.Contains(r.stdout, file) {
		t.Errorf("output does not name the file: %q", r.stdout)
	}

	r = runCLI(t, nil, "--server", addr, "-o", "json", "qr", p.GetId())
	if r.err != nil || !json.Valid([]byte(r.stdout)) {
		t.Errorf("qr -o json: %v\n%s", r.err, r.stdout)
	}
}

func TestServerAddress(t *testing.T) {
	p := activePermit()
	_, addr := startFakeNode(t, p)

	t.Setenv(serverEnv, addr)
	if r := runCLI(t, nil, "show", p.GetId()); r.err != nil {
		t.Errorf("with %s set: %v", serverEnv, r.err)
	}

	closed := closedAddress(t)
	r := runCLI(t, nil, "--server", closed, "show", p.GetId())
	if r.code != exitFailure || !strings.Contains(r.err.Error(), "permitd at "+closed) {
		t.Errorf("--server overriding %s: exit %d, err %v; want unavailable at %s", serverEnv, r.code, r.err, closed)
	}

	r = runCLI(t, nil, "--server", closed, "endorse", p.GetId(), "--if-version", "3", "--request-id", "r9")
	if r.code != exitFailure || !strings.Contains(r.err.Error(), "--request-id r9") {
		t.Errorf("unreachable node: exit %d, err %v; want a hint to retry with --request-id r9", r.code, r.err)
	}

	// With --ca, permitctl speaks TLS even to loopback; the plaintext fake
	// node cannot answer.
	ca := testpki.NewCA(t, "test-ca")
	r = runCLI(t, nil, "--server", addr, "--ca", ca.CertFile, "--timeout", "5s", "show", p.GetId())
	if r.code != exitFailure || status.Code(r.err) != codes.Unavailable {
		t.Errorf("TLS to a plaintext node: exit %d, err %v; want unavailable", r.code, r.err)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"isue"}, `did you mean issue`},
		{[]string{"key", "import"}, `unknown command "import"`},
		{[]string{"key", "resign"}, "missing required flag --compromised"},
		{[]string{"key", "resign", "--compromised", "21fe31dfa154a261", "--batch", "0"}, "--batch must be between 1 and 1000"},
		{[]string{"key", "resign", "--compromised", "21fe31dfa154a261"}, "pass --yes"},
		{[]string{"show"}, "missing PERMIT_ID"},
		{[]string{"show", "a", "b"}, `unexpected argument "b"`},
		{[]string{"list", "extra"}, `unexpected argument "extra"`},
		{[]string{"show", "--bogus", "a"}, "unknown flag: --bogus"},
		{[]string{"issue", "--name", "测试者甲"}, "missing required flags --citizen-id, --ethnicity, --hukou-address, --residence-address"},
		{[]string{"issue", "--name", "n", "--citizen-id", "c", "--ethnicity", "e", "--hukou-address", "h", "--residence-address", "r", "--residence-start", "2026-13-01"},
			"not a date"},
		{[]string{"suspend", "330604-4F7K2M9QXW3B7"}, "missing required flag --reason"},
		{[]string{"list", "--page-size", "-1"}, "--page-size"},
		{[]string{"qr", "330604-4F7K2M9QXW3B7", "--size", "100"}, "--size applies only with --png"},
		{[]string{"--timeout", "-1s", "show", "x"}, "--timeout"},
		{[]string{"--timeout", "soon", "show", "x"}, "--timeout"},
		{[]string{"admin", "add", "clerk.wang"}, "missing required flag --role"},
		{[]string{"admin", "add", "clerk.wang", "--role", "janitor"}, `"janitor": must be one of admin, supervisor, clerk, auditor, partner`},
		{[]string{"admin", "add", "clerk.wang", "--role", "clerk", "--kind", "robot"}, "must be one of person, system"},
		{[]string{"admin", "add"}, "missing NAME"},
		{[]string{"admin", "rotate", "clerk.wang"}, "pass --yes"},
		{[]string{"admin", "remove", "clerk.wang"}, `unknown command "remove"`},
		{[]string{"pending", "approve"}, "missing PENDING_ID"},
		{[]string{"pending", "approve", "pc-0001"}, "pass --yes"},
		{[]string{"pending", "aprove", "pc-0001"}, "did you mean approve"},
		{[]string{"audit", "list", "--limit", "5", "--all"}, "either --limit or --all"},
		{[]string{"audit", "list", "--limit", "0"}, "--limit must be at least 1"},
		{[]string{"audit", "list", "--since", "yesterday"}, "--since: not a time"},
		{[]string{"audit", "list", "--until", "2026-02-30"}, "--until: not a time"},
		{[]string{"audit", "list", "--since", "2026-03-02", "--until", "2026-03-01"}, "--until must be later than --since"},
		{[]string{"audit", "verify", "extra"}, `unexpected argument "extra"`},
		{[]string{"whoami", "me"}, `unexpected argument "me"`},
		{[]string{"--token", "a", "--token-file", "b", "whoami"}, "either --token or --token-file"},
		{[]string{"--token", "", "whoami"}, "--token is empty"},
		{[]string{"--cert", "c.pem", "whoami"}, "needs both --cert and --key"},
		{[]string{"--key", "k.pem", "whoami"}, "needs both --cert and --key"},
		{[]string{"--purpose", "line\nbreak", "show", "x"}, "--purpose"},
		{[]string{"verify", "--key", "k.pem", "YRD1:X"}, "needs both --cert and --key"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit status %d, want %d (err %v)", r.code, exitUsage, r.err)
			}
			if !strings.Contains(r.err.Error(), tt.want) || !strings.Contains(r.err.Error(), "--help") {
				t.Errorf("error %q lacks %q or the pointer to --help", r.err, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("usage error printed to stdout: %q", r.stdout)
			}
		})
	}
}

// TestFollowPages checks the paging of the list commands: one page without
// all, every page with it, and a stop at a node that hands back the token
// of the page just read.
func TestFollowPages(t *testing.T) {
	pages := map[string]string{"": "2", "2": "4", "4": ""}
	for _, tt := range []struct {
		all      bool
		start    string
		wantRead []string
		wantNext string
	}{
		{false, "", []string{""}, "2"},
		{true, "", []string{"", "2", "4"}, ""},
		{true, "2", []string{"2", "4"}, ""},
	} {
		var read []string
		next, err := followPages(tt.all, tt.start, func(token string) (string, error) {
			read = append(read, token)
			return pages[token], nil
		})
		if err != nil || !slices.Equal(read, tt.wantRead) || next != tt.wantNext {
			t.Errorf("all %v from %q: read %q, next %q, err %v; want %q, %q", tt.all, tt.start, read, next, err, tt.wantRead, tt.wantNext)
		}
	}
	_, err := followPages(true, "", func(string) (string, error) { return "7", nil })
	if err == nil || !strings.Contains(err.Error(), "same page token twice") {
		t.Errorf("a node repeating a token: err %v", err)
	}
	fail := status.Error(codes.Unavailable, "gone")
	if _, err := followPages(true, "", func(string) (string, error) { return "", fail }); err != fail {
		t.Errorf("a failing page: err %v, want %v", err, fail)
	}
}
