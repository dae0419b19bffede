package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// ctl is permitctl pointed at one node, acting with one token.
type ctl struct {
	t     *testing.T
	addr  string
	dir   string
	token string
}

// as returns c acting with token.
func (c ctl) as(token string) ctl {
	c.token = token
	return c
}

// ctlResult is the outcome of one permitctl run.
type ctlResult struct {
	stdout, stderr string
	code           int
}

// run runs permitctl with args and stdin, in the test's folder.
func (c ctl) run(stdin string, args ...string) ctlResult {
	c.t.Helper()
	cmd := exec.Command(permitctlBin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "PERMITCTL_SERVER="+c.addr, "XDG_CONFIG_HOME="+c.dir, "PERMITCTL_TOKEN="+c.token)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := ctlResult{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		c.t.Fatalf("permitctl %v: %v", args, err)
	}
	return r
}

// ok runs permitctl and fails the test unless it exits 0.
func (c ctl) ok(stdin string, args ...string) ctlResult {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("permitctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// jsonOf runs permitctl with -o json and decodes its output.
func (c ctl) jsonOf(args ...string) map[string]any {
	c.t.Helper()
	r := c.ok("", append(args, "-o", "json")...)
	var v map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		c.t.Fatalf("permitctl %v -o json printed no JSON object: %v\n%s", args, err, r.stdout)
	}
	return v
}

// TestPermitctlWalkthrough follows the README's five minutes with permitctl
// against a real permitd: accounts from the bootstrap admin, issue, list,
// show, qr, verify online and offline, endorse (refused before the
// window), suspend, reinstate, cancel with two supervisors, and the audit
// log.
func TestPermitctlWalkthrough(t *testing.T) {
	n := startTestNode(t, "")
	c := ctl{t: t, addr: n.addr, dir: t.TempDir()}

	// The bootstrap admin creates the staff; each token is printed once.
	admin := []string{"--token-file", filepath.Join(n.data, "admin.token")}
	tokens := map[string]string{}
	for _, a := range [][2]string{{"clerk1", "clerk"}, {"sup1", "supervisor"}, {"sup2", "supervisor"}, {"auditor1", "auditor"}} {
		created := c.jsonOf(append(admin, "admin", "add", a[0], "--role", a[1])...)
		tokens[a[0]] = created["token"].(string)
	}
	if r := c.ok("", append(admin, "admin", "list")...); !strings.Contains(r.stdout, "auditor1") || strings.Contains(r.stdout, tokens["clerk1"]) {
		t.Fatalf("admin list:\n%s", r.stdout)
	}
	if r := c.run("", "whoami"); r.code != 1 || !strings.Contains(r.stderr, "--token") {
		t.Fatalf("no token: exit %d, stderr %q", r.code, r.stderr)
	}
	clerk, sup1, sup2, auditor := c.as(tokens["clerk1"]), c.as(tokens["sup1"]), c.as(tokens["sup2"]), c.as(tokens["auditor1"])

	issued := clerk.jsonOf("issue", "--name", "测试者甲", "--citizen-id", "340104199003077311", "--ethnicity", "汉",
		"--hukou-address", "安徽省合肥市蜀山区测试路1号",
		"--residence-address", "浙江省绍兴市上虞区曹娥街道测试小区2幢301室")
	permit := issued["permit"].(map[string]any)
	id := permit["id"].(string)
	if !strings.HasPrefix(id, "330604-") || permit["status"] != "PERMIT_STATUS_ACTIVE" {
		t.Fatalf("issued %v", permit)
	}
	if permit["holder"].(map[string]any)["birth_date"] != "1990-03-07" {
		t.Fatalf("birth date not derived from the citizen id: %v", permit["holder"])
	}
	text := issued["credential"].(map[string]any)["text"].(string)

	// A supervisor may not issue: permission denied, in one line.
	if r := sup1.run("", "issue", "--name", "测试者乙", "--citizen-id", "110101199003074514", "--ethnicity", "汉",
		"--hukou-address", "北京市东城区测试胡同1号", "--residence-address", "浙江省绍兴市上虞区测试路2号"); r.code != 1 ||
		!strings.Contains(strings.ToLower(r.stderr), "permission") {
		t.Fatalf("supervisor issuing: exit %d, stderr %q", r.code, r.stderr)
	}
	// A second permit for the same citizen is refused with the reason and the existing permit named.
	dup := clerk.run("", "issue", "--name", "测试者甲", "--citizen-id", "340104199003077311", "--ethnicity", "汉",
		"--hukou-address", "安徽省合肥市蜀山区测试路1号", "--residence-address", "浙江省绍兴市上虞区测试路9号")
	if dup.code != 1 || !strings.Contains(dup.stderr, id) || strings.Contains(dup.stderr, "goroutine") {
		t.Fatalf("duplicate issue: exit %d, stderr %q", dup.code, dup.stderr)
	}
	// Bad input: one readable line naming the field, exit 1, no stack trace.
	bad := clerk.run("", "issue", "--name", "测试者乙", "--citizen-id", "340104199003077312", "--ethnicity", "汉",
		"--hukou-address", "安徽省合肥市蜀山区测试路1号", "--residence-address", "浙江省绍兴市上虞区测试路9号")
	if bad.code != 1 || !strings.Contains(bad.stderr, "citizen_id") || strings.Count(strings.TrimSpace(bad.stderr), "\n") > 0 {
		t.Fatalf("bad citizen id: exit %d, stderr %q", bad.code, bad.stderr)
	}

	list := clerk.ok("", "list")
	if !strings.Contains(list.stdout, id) || !strings.Contains(list.stdout, "测试者甲") {
		t.Fatalf("list does not show %s:\n%s", id, list.stdout)
	}
	show := clerk.ok("", "show", id)
	for _, want := range []string{id, "测试者甲", "340104199003077311", "1990-03-07"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, show.stdout)
		}
	}

	if qr := clerk.ok("", "qr", id); strings.Count(qr.stdout, "\n") < 20 {
		t.Errorf("qr printed %d lines", strings.Count(qr.stdout, "\n"))
	}
	clerk.ok("", "qr", id, "--png", "permit.png")
	f, err := os.Open(filepath.Join(c.dir, "permit.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("permit.png: %v", err)
	}

	if v := clerk.ok(text, "verify", "-"); !strings.Contains(v.stdout, "VALID") || strings.Contains(v.stdout, "测试者甲") {
		t.Fatalf("verify of a fresh credential, without personal data:\n%s", v.stdout)
	}
	if v := clerk.ok(text, "verify", "--personal-data", "-"); !strings.Contains(v.stdout, "测试者甲") {
		t.Fatalf("verify --personal-data:\n%s", v.stdout)
	}
	clerk.ok("", "verify", text)
	c.ok("", "key", "export", "--out", "issuer.pem") // public: no token needed
	if pem, err := os.ReadFile(filepath.Join(c.dir, "issuer.pem")); err != nil || !bytes.Contains(pem, []byte("PUBLIC KEY")) {
		t.Fatalf("issuer.pem: %v %q", err, pem)
	}
	c.ok(text, "verify", "--offline", "--key", "issuer.pem", "-")

	// Tampering with one character of the credential makes it not valid.
	tampered := text[:len(text)-3] + flip(text[len(text)-3]) + text[len(text)-2:]
	if r := c.run("", "verify", "--offline", "--key", "issuer.pem", tampered); r.code == 0 {
		t.Fatalf("tampered credential verified offline:\n%s", r.stdout)
	}

	if r := clerk.run("", "endorse", id); r.code != 1 || !strings.Contains(r.stderr, "endorse") {
		t.Fatalf("endorse on the day of issue: exit %d, stderr %q", r.code, r.stderr)
	}
	susp := clerk.jsonOf("suspend", id, "--reason", "住址核查")
	if susp["permit"].(map[string]any)["status"] != "PERMIT_STATUS_SUSPENDED" {
		t.Fatalf("suspend: %v", susp)
	}
	if r := clerk.run("", "verify", "--id", id); r.code != 3 {
		t.Fatalf("verify of a suspended permit: exit %d\n%s", r.code, r.stdout)
	}
	if r := clerk.run("", "reinstate", id); r.code != 1 {
		t.Fatalf("a clerk reinstated: exit %d", r.code)
	}
	sup1.ok("", "reinstate", id)
	clerk.ok("", "verify", "--id", id)

	// cancel asks for confirmation; without --yes and with no answer it files nothing.
	if r := sup1.run("", "cancel", id, "--reason", "death"); r.code == 0 {
		t.Fatalf("cancel without confirmation succeeded:\n%s", r.stdout)
	}
	filed := sup1.jsonOf("cancel", id, "--reason", "death", "--yes")
	pendingID := filed["pending"].(map[string]any)["id"].(string)
	if filed["permit"].(map[string]any)["status"] != "PERMIT_STATUS_ACTIVE" {
		t.Fatalf("cancel changed the permit before approval: %v", filed)
	}
	clerk.ok("", "verify", "--id", id)
	if r := sup2.ok("", "pending", "list"); !strings.Contains(r.stdout, pendingID) {
		t.Fatalf("pending list lacks %s:\n%s", pendingID, r.stdout)
	}
	if r := sup1.run("", "pending", "approve", pendingID, "--yes"); r.code != 1 {
		t.Fatalf("the requester approved their own request: exit %d", r.code)
	}
	done := sup2.jsonOf("pending", "approve", pendingID, "--yes")
	if done["permit"].(map[string]any)["status"] != "PERMIT_STATUS_CANCELLED" {
		t.Fatalf("approve: %v", done)
	}
	if r := clerk.run(text, "verify", "-"); r.code != 3 || !strings.Contains(r.stdout, "NOT VALID") {
		t.Fatalf("verify after cancel: exit %d\n%s", r.code, r.stdout)
	}
	// After the cancellation the citizen may be issued a new permit.
	clerk.ok("", "issue", "--name", "测试者甲", "--citizen-id", "340104199003077311", "--ethnicity", "汉",
		"--hukou-address", "安徽省合肥市蜀山区测试路1号", "--residence-address", "浙江省绍兴市上虞区测试路9号")
	if r := clerk.ok("", "list", "--status", "cancelled"); !strings.Contains(r.stdout, id) {
		t.Fatalf("list --status cancelled lacks %s:\n%s", id, r.stdout)
	}

	// The audit log: readable by the auditor only, intact.
	if r := clerk.run("", "audit", "list"); r.code != 1 {
		t.Fatalf("a clerk read the audit log: exit %d", r.code)
	}
	trail := auditor.ok("", "audit", "list", "--permit", id)
	for _, want := range []string{"IssuePermit", "SuspendPermit", "ReinstatePermit", "CancelPermit", "ApproveCancellation", "clerk1", "sup1", "sup2"} {
		if !strings.Contains(trail.stdout, want) {
			t.Errorf("audit list --permit %s lacks %q:\n%s", id, want, trail.stdout)
		}
	}
	auditor.ok("", "audit", "verify")

	// Someone edits one entry directly in the bbolt file of the stopped
	// node; audit verify finds that entry.
	n.stop()
	tamperAuditEntry(t, filepath.Join(n.data, "permits.db"), 3)
	n = startTestNode(t, n.data)
	auditor.addr = n.addr
	r := auditor.run("", "audit", "verify")
	if r.code != 3 || !strings.Contains(r.stdout, "BROKEN") || !strings.Contains(r.stdout, "entry 3 was altered") {
		t.Fatalf("audit verify after tampering with entry 3: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	n.stop()
}

// tamperAuditEntry changes the actor of audit entry seq in a node's bbolt
// file, the way someone with access to the file might, without touching
// its hashes.
func tamperAuditEntry(t *testing.T, path string, seq uint64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		if b == nil {
			return errors.New("no audit bucket")
		}
		key := binary.BigEndian.AppendUint64(nil, seq)
		var e epermitv1.AuditEntry
		if err := proto.Unmarshal(b.Get(key), &e); err != nil {
			return err
		}
		e.Actor = "someone-else"
		v, err := proto.MarshalOptions{Deterministic: true}.Marshal(&e)
		if err != nil {
			return err
		}
		return b.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPermitctlUnreachable: a node that is down gives one line and exit 1.
func TestPermitctlUnreachable(t *testing.T) {
	n := startTestNode(t, "")
	n.stop()
	c := ctl{t: t, addr: n.addr, dir: t.TempDir()}
	r := c.run("", "--timeout", "2s", "show", "330604-4F7K2M9QXW3B7")
	if r.code != 1 || r.stderr == "" || strings.Contains(r.stderr, "goroutine") {
		t.Fatalf("unreachable node: exit %d, stderr %q", r.code, r.stderr)
	}
}

// flip returns a different Base45 character than b.
func flip(b byte) string {
	if b == '0' {
		return "1"
	}
	return "0"
}
