package e2e

import (
	"math"
	"regexp"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/server/metrics/metricstest"
)

var metricsLine = regexp.MustCompile(`metrics on (http://\S+/metrics)`)

// metricsURL is the /metrics address the node printed at start.
func (n *node) metricsURL() string {
	n.t.Helper()
	m := metricsLine.FindStringSubmatch(n.out.String())
	if m == nil {
		n.t.Fatalf("permitd printed no metrics address:\n%s", n.out)
	}
	return m[1]
}

// TestStatusListAgeMetric: a member's /metrics tells the age of the
// status list it holds of every other member, finite once fetched and
// within the refresh interval of the other's signing.
func TestStatusListAgeMetric(t *testing.T) {
	shangyu := &member{division: "330604", name: "浙江省绍兴市上虞区", province: "330000"}
	putuo := &member{division: "310107", name: "上海市普陀区", province: "310000"}
	f := startFederation(t, time.Hour, shangyu, putuo)
	url := putuo.node.metricsURL()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := metricstest.Get(t, url)
		age, found := s.Value("epermit_status_list_age_seconds", map[string]string{"member": shangyu.division})
		if found && !math.IsInf(age, 1) {
			if age < 0 || age > 3600 {
				t.Fatalf("status list age of %s = %v s", shangyu.division, age)
			}
			if _, own := s.Value("epermit_status_list_age_seconds", map[string]string{"member": putuo.division}); own {
				t.Fatal("a member reports the age of its own list")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status list age for %s (found %v, %v)\n%s", shangyu.division, found, age, f.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestGCPercent: permitd runs the collector at GOGC=300 when the GOGC
// variable is empty, and at the variable's value when it is set.
func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want float64
	}{{"", 300}, {"100", 100}} {
		t.Setenv("GOGC", tc.env) // the node inherits the environment
		n := startNode(t, t.TempDir(), "--listen", "127.0.0.1:0", "--data", "data", "--metrics-listen", freeAddr(t))
		got, found := metricstest.Get(t, n.metricsURL()).Value("go_gc_gogc_percent", nil)
		if !found || got != tc.want {
			t.Errorf("GOGC=%q: go_gc_gogc_percent %v (found %v), want %v", tc.env, got, found, tc.want)
		}
		n.stop()
	}
}
