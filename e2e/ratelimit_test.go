package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/yrd-epermit/epermit/citizenid"
)

// TestPermitctlRateLimit drives permitctl admin ratelimit against a real
// permitd (bbolt, default limits off): an override limits a clerk at once,
// the refusal says which limit and when to retry, a reset refills, clear
// removes the override, bad input and a clerk calling are refused, and the
// override survives a restart of the node.
func TestPermitctlRateLimit(t *testing.T) {
	n := startTestNode(t, "")
	c := ctl{t: t, addr: n.addr, dir: t.TempDir()}
	admin := func(args ...string) []string {
		return append([]string{"--token-file", filepath.Join(n.data, "admin.token"), "admin", "ratelimit"}, args...)
	}
	clerk := c.as(n.staff().clerk)
	ids := citizenid.NewGenerator(66)
	issue := func() ctlResult {
		return clerk.run("", "issue", "--name", "测试者戊", "--citizen-id", ids.Next(), "--ethnicity", "汉",
			"--hukou-address", "安徽省合肥市蜀山区测试路1号", "--residence-address", "浙江省绍兴市上虞区测试路3号")
	}

	r := c.ok("", admin("set", "caller:clerk1", "--rate", "1/h", "--burst", "1", "--note", "测试窗口")...)
	if !strings.Contains(r.stdout, "1/h, burst 1") || !strings.Contains(r.stdout, "测试窗口") || !strings.Contains(r.stdout, "admin") {
		t.Fatalf("set printed:\n%s", r.stdout)
	}
	list := c.jsonOf(admin("list")...)
	overrides, _ := list["overrides"].([]any)
	if len(overrides) != 1 || overrides[0].(map[string]any)["key"] != "caller:clerk1" || list["caller_default"] != nil {
		t.Fatalf("list -o json: %v", list)
	}

	if r := issue(); r.code != 0 {
		t.Fatalf("first issue: exit %d\n%s", r.code, r.stderr)
	}
	r = issue()
	if r.code != 1 || !strings.Contains(r.stderr, "too many changes from account clerk1") ||
		!strings.Contains(r.stderr, "retry after") || !strings.Contains(r.stderr, "limit=caller") {
		t.Fatalf("issue beyond the override: exit %d, stderr %q", r.code, r.stderr)
	}

	if r := c.ok("", admin("reset", "caller:clerk1")...); !strings.Contains(r.stdout, "refilled") {
		t.Fatalf("reset printed %q", r.stdout)
	}
	if r := issue(); r.code != 0 {
		t.Fatalf("issue after the reset: exit %d\n%s", r.code, r.stderr)
	}

	// Bad input: an unknown account, a rate that is no rate, a clerk.
	if r := c.run("", admin("set", "caller:nobody", "--exempt")...); r.code != 1 || !strings.Contains(r.stderr, "UNKNOWN_ACCOUNT") {
		t.Fatalf("unknown account: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := c.run("", admin("set", "caller:clerk1", "--rate", "fast", "--burst", "1")...); r.code != 2 {
		t.Fatalf("bad rate: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := clerk.run("", "admin", "ratelimit", "list"); r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "permission") {
		t.Fatalf("clerk listing: exit %d, stderr %q", r.code, r.stderr)
	}

	// The override is in the data folder: it holds after a restart.
	n.stop()
	n = startTestNode(t, n.data)
	c.addr = n.addr
	clerk.addr = n.addr
	if r := issue(); r.code != 0 {
		t.Fatalf("first issue after the restart: exit %d\n%s", r.code, r.stderr)
	}
	if r := issue(); r.code != 1 || !strings.Contains(r.stderr, "limit=caller") {
		t.Fatalf("second issue after the restart: exit %d, stderr %q", r.code, r.stderr)
	}

	if r := c.ok("", admin("clear", "caller:clerk1")...); !strings.Contains(r.stdout, "caller:clerk1") {
		t.Fatalf("clear printed %q", r.stdout)
	}
	if r := c.ok("", admin("list")...); !strings.Contains(r.stderr, "No overrides.") || !strings.Contains(r.stderr, "caller off") {
		t.Fatalf("list after clear: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if r := issue(); r.code != 0 {
		t.Fatalf("issue after clearing: exit %d\n%s", r.code, r.stderr)
	}
}
