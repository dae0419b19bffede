package command

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestAdminCommands adds, lists, disables, enables and rotates accounts on
// the fake node, as its bootstrap admin.
func TestAdminCommands(t *testing.T) {
	node, addr := startFakeNode(t)
	node.requireCredentials()
	admin := &epermitv1.Account{Name: "admin", Division: "330604", Roles: []epermitv1.Role{epermitv1.Role_ROLE_ADMIN},
		Kind: epermitv1.AccountKind_ACCOUNT_KIND_PERSON}
	node.accounts.add(admin, "epk_test_bootstrap")
	run := func(args ...string) cliResult {
		t.Helper()
		return runCLI(t, nil, append([]string{"--server", addr, "--token", "epk_test_bootstrap"}, args...)...)
	}

	r := run("admin", "add", "clerk.wang", "--role", "clerk", "--role", "supervisor,clerk", "--note", "上虞区行政服务中心")
	if r.err != nil {
		t.Fatal(r.err)
	}
	mustEqual(t, node.received()[0], &epermitv1.CreateAccountRequest{
		Name: "clerk.wang", Roles: []epermitv1.Role{epermitv1.Role_ROLE_CLERK, epermitv1.Role_ROLE_SUPERVISOR},
		Kind: epermitv1.AccountKind_ACCOUNT_KIND_PERSON, Note: "上虞区行政服务中心",
	})
	token := fakeToken("clerk.wang", 0)
	if !strings.Contains(r.stdout, token) || !strings.Contains(r.stdout, "clerk, supervisor") {
		t.Errorf("add does not print the account with its token:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "shown only now") {
		t.Errorf("add does not warn that the token is shown once:\n%s", r.stderr)
	}
	// The new token works.
	if r := runCLI(t, nil, "--server", addr, "--token", token, "whoami"); r.err != nil || !strings.Contains(r.stdout, "clerk.wang") {
		t.Fatalf("whoami with the new token: %v\n%s", r.err, r.stdout)
	}

	r = run("-o", "json", "admin", "add", "partner-320502", "--role", "partner", "--kind", "system", "--division", "320502")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var created epermitv1.CreateAccountResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if created.GetToken() != "" || created.GetAccount().GetKind() != epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM ||
		created.GetAccount().GetDivision() != "320502" || !strings.Contains(r.stderr, "client certificate") {
		t.Errorf("system account: %v\nstderr %s", &created, r.stderr)
	}

	r = run("admin", "add", "clerk.wang", "--role", "clerk")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "already exists") {
		t.Errorf("adding a taken name: exit %d, err %v", r.code, r.err)
	}

	r = run("admin", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.err != nil || len(lines) != 4 || !strings.HasPrefix(lines[1], "admin ") || !strings.HasPrefix(lines[2], "clerk.wang ") ||
		!strings.HasPrefix(lines[3], "partner-320502 ") {
		t.Fatalf("list: err %v\n%s", r.err, r.stdout)
	}
	if strings.Contains(r.stdout, "epk_") {
		t.Errorf("list shows a token:\n%s", r.stdout)
	}

	if r := run("admin", "disable", "clerk.wang"); r.err != nil || !strings.Contains(r.stdout, "disabled") {
		t.Fatalf("disable: %v\n%s", r.err, r.stdout)
	}
	if r := runCLI(t, nil, "--server", addr, "--token", token, "whoami"); r.code != exitFailure {
		t.Errorf("whoami of a disabled account: exit %d, want 1", r.code)
	}
	if r := run("admin", "enable", "clerk.wang"); r.err != nil || !strings.Contains(r.stdout, "enabled") {
		t.Fatalf("enable: %v\n%s", r.err, r.stdout)
	}

	r = run("admin", "rotate", "clerk.wang", "--yes", "-o", "json")
	var rotated epermitv1.RotateTokenResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &rotated); r.err != nil || err != nil {
		t.Fatalf("rotate: %v, %v\n%s", r.err, err, r.stdout)
	}
	if rotated.GetToken() == "" || rotated.GetToken() == token || !strings.Contains(r.stderr, "shown only now") {
		t.Errorf("rotate gave token %q, stderr %q", rotated.GetToken(), r.stderr)
	}
	if r := runCLI(t, nil, "--server", addr, "--token", token, "whoami"); r.code != exitFailure {
		t.Errorf("the old token still works after rotation")
	}
	if r := runCLI(t, nil, "--server", addr, "--token", rotated.GetToken(), "whoami"); r.err != nil {
		t.Errorf("the new token does not work: %v", r.err)
	}

	r = run("admin", "rotate", "partner-320502", "--yes")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "failed precondition") {
		t.Errorf("rotating a system account: exit %d, err %v", r.code, r.err)
	}
	r = run("admin", "disable", "nobody")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "not found") {
		t.Errorf("disabling a missing account: exit %d, err %v", r.code, r.err)
	}
}
