package command

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// manyAuditEntries returns n entries, one a minute from 2026-03-01 00:00
// CST, by clerk.wang.
func manyAuditEntries(n int) []*epermitv1.AuditEntry {
	start := ts("2026-03-01 00:00:00").AsTime()
	var entries []*epermitv1.AuditEntry
	for i := range n {
		entries = append(entries, &epermitv1.AuditEntry{
			Seq: uint64(i + 1), Time: timestamppb.New(start.Add(time.Duration(i) * time.Minute)), Actor: "clerk.wang",
			Method: "/epermit.v1.PermitService/GetPermit", Target: fmt.Sprintf("330604-%013d", i), Outcome: "OK",
		})
	}
	return entries
}

func TestAuditList(t *testing.T) {
	node, addr := startFakeNode(t)
	node.audit.set(auditEntries(), nil)
	tests := []struct {
		name      string
		args      []string
		wantSeqs  string
		wantStart string // the start_time sent, RFC 3339 in UTC
		wantEnd   string
	}{
		{name: "all", wantSeqs: "1 2 3 4"},
		{name: "actor", args: []string{"--actor", "clerk.wang"}, wantSeqs: "1 3"},
		{name: "permit", args: []string{"--permit", "330604-7QW2M4K9XB3F1"}, wantSeqs: "3"},
		{name: "dates in China Standard Time", args: []string{"--since", "2026-03-02", "--until", "2026-03-03"}, wantSeqs: "2 3",
			wantStart: "2026-03-01T16:00:00Z", wantEnd: "2026-03-03T16:00:00Z"},
		{name: "RFC 3339", args: []string{"--since", "2026-03-02T11:15:42+08:00", "--until", "2026-03-05T10:00:00+08:00"}, wantSeqs: "2 3",
			wantStart: "2026-03-02T03:15:42Z", wantEnd: "2026-03-05T02:00:00Z"},
		{name: "limit", args: []string{"--limit", "3"}, wantSeqs: "1 2 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, append([]string{"--server", addr, "audit", "list"}, tt.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			var seqs []string
			for i, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				if i > 0 {
					seqs = append(seqs, strings.Fields(line)[0])
				}
			}
			if got := strings.Join(seqs, " "); got != tt.wantSeqs {
				t.Errorf("listed %q, want %q\n%s", got, tt.wantSeqs, r.stdout)
			}
			req := node.lastCall(t).req.(*epermitv1.ListAuditEntriesRequest)
			if got := rfc3339(req.GetStartTime().AsTime(), req.GetStartTime() != nil); got != tt.wantStart {
				t.Errorf("start_time %q, want %q", got, tt.wantStart)
			}
			if got := rfc3339(req.GetEndTime().AsTime(), req.GetEndTime() != nil); got != tt.wantEnd {
				t.Errorf("end_time %q, want %q", got, tt.wantEnd)
			}
		})
	}
}

// rfc3339 writes t in UTC, or "" when not set.
func rfc3339(t time.Time, set bool) string {
	if !set {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// TestAuditListPages checks --limit and --all against a log longer than a
// page.
func TestAuditListPages(t *testing.T) {
	node, addr := startFakeNode(t)
	node.audit.set(manyAuditEntries(2345), nil)
	tests := []struct {
		name      string
		args      []string
		want      int
		wantMore  bool
		wantCalls int
	}{
		{name: "default limit", want: 100, wantMore: true, wantCalls: 1},
		{name: "limit over a page", args: []string{"--limit", "1500"}, want: 1500, wantMore: true, wantCalls: 2},
		{name: "all", args: []string{"--all"}, want: 2345, wantCalls: 3},
		{name: "limit beyond the end", args: []string{"--limit", "5000"}, want: 2345, wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(node.receivedCalls())
			r := runCLI(t, nil, append([]string{"--server", addr, "-o", "json", "audit", "list"}, tt.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			var got epermitv1.ListAuditEntriesResponse
			if err := protojson.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatal(err)
			}
			if len(got.GetEntries()) != tt.want || (got.GetNextPageToken() != "") != tt.wantMore {
				t.Errorf("%d entries, next page token %q; want %d, more %v", len(got.GetEntries()), got.GetNextPageToken(), tt.want, tt.wantMore)
			}
			for i, e := range got.GetEntries() {
				if e.GetSeq() != uint64(i+1) {
					t.Fatalf("entry %d has seq %d", i, e.GetSeq())
				}
			}
			if calls := len(node.receivedCalls()) - before; calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
		})
	}
	r := runCLI(t, nil, "--server", addr, "audit", "list", "--limit", "2")
	if r.err != nil || !strings.Contains(r.stderr, "More entries") {
		t.Errorf("table with more entries: err %v, stderr %q", r.err, r.stderr)
	}
}

func TestAuditVerify(t *testing.T) {
	tests := []struct {
		name     string
		chain    *epermitv1.VerifyAuditChainResponse
		args     []string
		wantCode int
		want     string
	}{
		{name: "intact", chain: intactChain(), wantCode: 0, want: "INTACT\nEntries    1234\n"},
		{name: "broken", chain: brokenChain(), wantCode: exitNotValid, want: "BROKEN\n"},
		{name: "broken as json", chain: brokenChain(), args: []string{"-o", "json"}, wantCode: exitNotValid, want: `"first_bad_seq": "17"`},
		{name: "intact as json", chain: intactChain(), args: []string{"-o", "json"}, wantCode: 0, want: `"intact": true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, addr := startFakeNode(t)
			node.audit.set(nil, tt.chain)
			r := runCLI(t, nil, append([]string{"--server", addr, "audit", "verify"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d (err %v)", r.code, tt.wantCode, r.err)
			}
			if !strings.Contains(r.stdout, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, r.stdout)
			}
			if tt.wantCode == exitNotValid && !strings.Contains(r.err.Error(), "broken at entry 17: the entry's hash does not match") {
				t.Errorf("err %v; want the first bad entry and its problem", r.err)
			}
		})
	}
	t.Run("node unreachable", func(t *testing.T) {
		r := runCLI(t, nil, "--server", closedAddress(t), "audit", "verify")
		if r.code != exitFailure {
			t.Errorf("exit %d, want 1", r.code)
		}
	})
}

func TestParseAuditTime(t *testing.T) {
	tests := []struct {
		in       string
		endOfDay bool
		want     string
		wantErr  bool
	}{
		{in: "2026-03-01", want: "2026-02-28T16:00:00Z"},
		{in: "2026-03-01", endOfDay: true, want: "2026-03-01T16:00:00Z"},
		{in: "2026-12-31", endOfDay: true, want: "2026-12-31T16:00:00Z"},
		{in: "2026-03-01T09:30:00+08:00", want: "2026-03-01T01:30:00Z"},
		{in: "2026-03-01T09:30:00+08:00", endOfDay: true, want: "2026-03-01T01:30:00Z"},
		{in: "2026-03-01T01:30:00Z", want: "2026-03-01T01:30:00Z"},
		{in: "2026-03-01 09:30", wantErr: true},
		{in: "20260301", wantErr: true},
		{in: "2026-02-29", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseTimeFlag(tt.in, tt.endOfDay)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseTimeFlag(%q) = %v, %v", tt.in, got, err)
			continue
		}
		if !tt.wantErr && got.UTC().Format(time.RFC3339) != tt.want {
			t.Errorf("parseTimeFlag(%q, %v) = %s, want %s", tt.in, tt.endOfDay, got.UTC().Format(time.RFC3339), tt.want)
		}
	}
}
