package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ctl is permitctl pointed at one node.
type ctl struct {
	t    *testing.T
	addr string
	dir  string
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
	cmd.Env = append(os.Environ(), "PERMITCTL_SERVER="+c.addr)
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
// against a real permitd: issue, list, show, qr, verify online and
// offline, endorse (refused before the window), suspend, reinstate, cancel.
func TestPermitctlWalkthrough(t *testing.T) {
	n := startTestNode(t, "")
	c := ctl{t: t, addr: n.addr, dir: t.TempDir()}

	issued := c.jsonOf("issue", "--name", "测试者甲", "--citizen-id", "340104199003077311", "--ethnicity", "汉",
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

	// A second permit for the same citizen is refused with the reason and the existing permit named.
	dup := c.run("", "issue", "--name", "测试者甲", "--citizen-id", "340104199003077311", "--ethnicity", "汉",
		"--hukou-address", "安徽省合肥市蜀山区测试路1号", "--residence-address", "浙江省绍兴市上虞区测试路9号")
	if dup.code != 1 || !strings.Contains(dup.stderr, id) || strings.Contains(dup.stderr, "goroutine") {
		t.Fatalf("duplicate issue: exit %d, stderr %q", dup.code, dup.stderr)
	}
	// Bad input: one readable line naming the field, exit 1, no stack trace.
	bad := c.run("", "issue", "--name", "测试者乙", "--citizen-id", "340104199003077312", "--ethnicity", "汉",
		"--hukou-address", "安徽省合肥市蜀山区测试路1号", "--residence-address", "浙江省绍兴市上虞区测试路9号")
	if bad.code != 1 || !strings.Contains(bad.stderr, "citizen_id") || strings.Count(strings.TrimSpace(bad.stderr), "\n") > 0 {
		t.Fatalf("bad citizen id: exit %d, stderr %q", bad.code, bad.stderr)
	}

	list := c.ok("", "list")
	if !strings.Contains(list.stdout, id) || !strings.Contains(list.stdout, "测试者甲") {
		t.Fatalf("list does not show %s:\n%s", id, list.stdout)
	}
	show := c.ok("", "show", id)
	for _, want := range []string{id, "测试者甲", "340104199003077311", "1990-03-07"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, show.stdout)
		}
	}

	if qr := c.ok("", "qr", id); strings.Count(qr.stdout, "\n") < 20 {
		t.Errorf("qr printed %d lines", strings.Count(qr.stdout, "\n"))
	}
	c.ok("", "qr", id, "--png", "permit.png")
	f, err := os.Open(filepath.Join(c.dir, "permit.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("permit.png: %v", err)
	}

	if v := c.ok(text, "verify", "-"); !strings.Contains(v.stdout, "VALID") {
		t.Fatalf("verify of a fresh credential:\n%s", v.stdout)
	}
	c.ok("", "verify", text)
	c.ok("", "key", "export", "--out", "issuer.pem")
	if pem, err := os.ReadFile(filepath.Join(c.dir, "issuer.pem")); err != nil || !bytes.Contains(pem, []byte("PUBLIC KEY")) {
		t.Fatalf("issuer.pem: %v %q", err, pem)
	}
	c.ok(text, "verify", "--offline", "--key", "issuer.pem", "-")

	// Tampering with one character of the credential makes it not valid.
	tampered := text[:len(text)-3] + flip(text[len(text)-3]) + text[len(text)-2:]
	if r := c.run("", "verify", "--offline", "--key", "issuer.pem", tampered); r.code == 0 {
		t.Fatalf("tampered credential verified offline:\n%s", r.stdout)
	}

	if r := c.run("", "endorse", id); r.code != 1 || !strings.Contains(r.stderr, "endorse") {
		t.Fatalf("endorse on the day of issue: exit %d, stderr %q", r.code, r.stderr)
	}
	susp := c.jsonOf("suspend", id, "--reason", "住址核查")
	if susp["permit"].(map[string]any)["status"] != "PERMIT_STATUS_SUSPENDED" {
		t.Fatalf("suspend: %v", susp)
	}
	if r := c.run("", "verify", "--id", id); r.code != 3 {
		t.Fatalf("verify of a suspended permit: exit %d\n%s", r.code, r.stdout)
	}
	c.ok("", "reinstate", id)
	c.ok("", "verify", "--id", id)

	// cancel asks for confirmation; without --yes and with no answer it changes nothing.
	if r := c.run("", "cancel", id, "--reason", "death"); r.code == 0 {
		t.Fatalf("cancel without confirmation succeeded:\n%s", r.stdout)
	}
	c.ok("", "verify", "--id", id)
	canc := c.jsonOf("cancel", id, "--reason", "death", "--yes")
	if canc["permit"].(map[string]any)["status"] != "PERMIT_STATUS_CANCELLED" {
		t.Fatalf("cancel: %v", canc)
	}
	if r := c.run(text, "verify", "-"); r.code != 3 || !strings.Contains(r.stdout, "NOT VALID") {
		t.Fatalf("verify after cancel: exit %d\n%s", r.code, r.stdout)
	}
	if r := c.run("", "reinstate", id); r.code != 1 {
		t.Fatalf("reinstate of a cancelled permit: exit %d", r.code)
	}
	// After the cancellation the citizen may be issued a new permit.
	c.ok("", "issue", "--name", "测试者甲", "--citizen-id", "340104199003077311", "--ethnicity", "汉",
		"--hukou-address", "安徽省合肥市蜀山区测试路1号", "--residence-address", "浙江省绍兴市上虞区测试路9号")
	if r := c.ok("", "list", "--status", "cancelled"); !strings.Contains(r.stdout, id) {
		t.Fatalf("list --status cancelled lacks %s:\n%s", id, r.stdout)
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
