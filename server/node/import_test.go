package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/citizenid"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// startPlainNode starts a node on loopback without TLS and without rate
// limits, over a bbolt file in a temporary folder.
func startPlainNode(t testing.TB) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.Limits = LimitsConfig{}
	n, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve()
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	return n
}

// plainConn connects to n as a new account with this role, made with the
// bootstrap admin's token.
func plainConn(t testing.TB, n *Node, role epermitv1.Role) *grpc.ClientConn {
	t.Helper()
	return accountConn(t, n, strings.ToLower(role.String()), role)
}

// importRow is a valid row for citizen id, under request id req.
func importRow(row int64, req, id string) *epermitv1.ImportRow {
	return &epermitv1.ImportRow{
		RequestId: req, Row: row,
		Holder: &epermitv1.Holder{Name: "测试者" + fmt.Sprint(row), CitizenId: id, Ethnicity: "汉",
			HukouAddress: "安徽省阜阳市测试县测试镇5号"},
		ResidenceAddress:   "浙江省绍兴市上虞区百官街道测试路8号",
		ResidenceStartDate: "2021-05-01",
	}
}

// importBatches sends each batch on one stream and returns the answers.
func importBatches(ctx context.Context, c epermitv1.ImportServiceClient, batches ...[]*epermitv1.ImportRow) ([][]*epermitv1.ImportResult, error) {
	stream, err := c.ImportPermits(ctx)
	if err != nil {
		return nil, err
	}
	// Send while receiving: the node answers as it goes, and stops reading
	// while its answers are not read.
	go func() {
		for _, b := range batches {
			if stream.Send(&epermitv1.ImportPermitsRequest{Rows: b}) != nil {
				return // Recv reports the stream's end
			}
		}
		stream.CloseSend()
	}()
	var out [][]*epermitv1.ImportResult
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, resp.Results)
	}
}

// TestImportPermits: over the node's real gRPC server, a batch imports its
// valid rows, refuses each bad one with its reason, and a second run of
// the same rows replays them; every imported permit is in force, with a
// status-list entry, a credential and its own audit entry.
func TestImportPermits(t *testing.T) {
	n := startPlainNode(t)
	conn := plainConn(t, n, epermitv1.Role_ROLE_SUPERVISOR)
	ctx := t.Context()
	imports := epermitv1.NewImportServiceClient(conn)
	ids := citizenid.NewGenerator(11)
	a, b, c := ids.Next(), ids.Next(), ids.Next()
	badCheck := a[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", a[17])+1)%11])

	future := importRow(6, "t:6", ids.Next())
	future.ResidenceStartDate = time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	noStart := importRow(7, "t:7", ids.Next())
	noStart.ResidenceStartDate = ""
	manyBad := importRow(8, "t 8", badCheck)
	manyBad.Holder.Name, manyBad.ResidenceAddress = "", " 浙江 "
	rows := []*epermitv1.ImportRow{
		importRow(2, "t:2", a),
		importRow(3, "t:3", b),
		importRow(4, "t:4", a), // a second permit for a
		importRow(5, "t:5", c),
		future, noStart, manyBad,
	}
	got, err := importBatches(ctx, imports, rows[:4], rows[4:])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0]) != 4 || len(got[1]) != 3 {
		t.Fatalf("answers %v, want 4 then 3 results", got)
	}
	results := append(got[0], got[1]...)
	imported := epermitv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED
	refused := epermitv1.ImportOutcome_IMPORT_OUTCOME_REFUSED
	want := []struct {
		outcome epermitv1.ImportOutcome
		reason  string
		fields  string
	}{
		{imported, "", ""}, {imported, "", ""},
		{refused, "CITIZEN_HOLDS_PERMIT", ""},
		{imported, "", ""},
		{refused, "INVALID_ROW", "residence_start_date:IN_FUTURE"},
		{refused, "INVALID_ROW", "residence_start_date:REQUIRED"},
		{refused, "INVALID_ROW", "request_id:FORMAT holder.name:REQUIRED holder.citizen_id:CHECK_DIGIT_MISMATCH residence_address:SURROUNDING_SPACE"},
	}
	for i, w := range want {
		r := results[i]
		var fields []string
		for _, v := range r.Violations {
			fields = append(fields, v.Field+":"+v.Reason)
		}
		if r.Row != rows[i].Row || r.Outcome != w.outcome || r.Reason != w.reason || strings.Join(fields, " ") != w.fields {
			t.Errorf("row %d: %v, want %v %s %s", rows[i].Row, r, w.outcome, w.reason, w.fields)
		}
	}
	if results[2].PermitId != results[0].PermitId {
		t.Errorf("refusal names %q, want the citizen's permit %s", results[2].PermitId, results[0].PermitId)
	}

	// The imported permits are in force, with an entry in the status list
	// and a credential, and residence years counted from the paper permit.
	permits := epermitv1.NewPermitServiceClient(conn)
	p, err := permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: results[0].PermitId})
	if err != nil {
		t.Fatal(err)
	}
	if p.Permit.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE || p.Permit.StatusIndex == nil ||
		p.Credential.GetText() == "" || p.Permit.ResidenceStartDate != "2021-05-01" || p.Permit.ResidenceYears < 4 {
		t.Errorf("imported permit %v, credential %v", p.Permit, p.Credential)
	}

	// Each imported permit has its own audit entry, with the row's request id.
	audits := epermitv1.NewAuditServiceClient(plainConn(t, n, epermitv1.Role_ROLE_AUDITOR))
	for _, i := range []int{0, 1, 3} {
		log, err := audits.ListAuditEntries(ctx, &epermitv1.ListAuditEntriesRequest{PermitId: results[i].PermitId})
		if err != nil {
			t.Fatal(err)
		}
		var writes []*epermitv1.AuditEntry
		for _, e := range log.Entries {
			if e.Method == "/epermit.v1.ImportService/ImportPermits" {
				writes = append(writes, e)
			}
		}
		if len(writes) != 1 || writes[0].RequestId != rows[i].RequestId || writes[0].Actor != "role_supervisor" {
			t.Errorf("import entries of %s: %v", results[i].PermitId, writes)
		}
	}

	// A second run replays the imported rows and refuses the bad ones again.
	again, err := importBatches(ctx, imports, rows)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again[0] {
		w := results[i].Outcome
		if w == imported {
			w = epermitv1.ImportOutcome_IMPORT_OUTCOME_REPLAYED
		}
		if r.Outcome != w || r.PermitId != results[i].PermitId {
			t.Errorf("rerun row %d: %v, want %v of %s", r.Row, r, w, results[i].PermitId)
		}
	}

	// A request id reused for other content is refused.
	changed := importRow(2, "t:2", ids.Next())
	reused, err := importBatches(ctx, imports, []*epermitv1.ImportRow{changed})
	if err != nil {
		t.Fatal(err)
	}
	if r := reused[0][0]; r.Outcome != refused || r.Reason != "REQUEST_ID_REUSED" {
		t.Errorf("reused request id: %v", r)
	}

	// A batch without rows, or with too many, ends the stream.
	for _, n := range []int{0, 1001} {
		batch := make([]*epermitv1.ImportRow, n)
		for i := range batch {
			batch[i] = importRow(int64(i), fmt.Sprintf("big:%d", i), ids.Next())
		}
		if _, err := importBatches(ctx, imports, batch); status.Code(err) != codes.InvalidArgument {
			t.Errorf("batch of %d rows: %v, want InvalidArgument", n, err)
		}
	}
}

// BenchmarkImport imports 123,000 rows (one district's residents) over
// the node's gRPC server into its bbolt file, in batches of 1,000 sent
// ahead of their answers on one stream, and reports rows/s. The rows are
// made before the timer starts; the permits are durable (fsync).
func BenchmarkImport(b *testing.B) {
	const rows, batch = 123_000, 1000
	ids := citizenid.NewGenerator(2026)
	var batches [][]*epermitv1.ImportRow
	for i := 0; i < rows; i += batch {
		var bt []*epermitv1.ImportRow
		for j := i; j < i+batch && j < rows; j++ {
			bt = append(bt, importRow(int64(j+2), fmt.Sprintf("bench:%d", j), ids.Next()))
		}
		batches = append(batches, bt)
	}
	for b.Loop() {
		b.StopTimer()
		n := startPlainNode(b)
		imports := epermitv1.NewImportServiceClient(plainConn(b, n, epermitv1.Role_ROLE_SUPERVISOR))
		b.StartTimer()
		got, err := importBatches(context.Background(), imports, batches...)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, res := range got {
			for _, r := range res {
				if r.Outcome != epermitv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED {
					b.Fatalf("row %d: %v", r.Row, r)
				}
			}
		}
		n.Shutdown(context.Background())
		b.StartTimer()
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
