package e2e

import (
	"testing"

	"github.com/yrd-epermit/epermit/citizenid"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestImportInFederation: in a federation, imported permits are reserved
// PENDING like issued ones; the node's settler asks the other members,
// puts in force the permit of a citizen who holds none elsewhere and
// withdraws the one of a citizen who holds Putuo's permit.
func TestImportInFederation(t *testing.T) {
	d := startDelta(t)
	gen := citizenid.NewGenerator(77)
	elsewhere, fresh := gen.Next(), gen.Next()
	held, err := d.permits(d.putuo, d.putuo.clerk).IssuePermit(ctx(t), issueRequest("putuo-1", elsewhere))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := epermitv1.NewImportServiceClient(d.dial(d.shangyu, d.shangyu.sup1)).ImportPermits(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	row := func(line int64, citizen string) *epermitv1.ImportRow {
		return &epermitv1.ImportRow{RequestId: "fed-import:" + citizen, Row: line,
			Holder:           &epermitv1.Holder{Name: "测试者", CitizenId: citizen, Ethnicity: "汉", HukouAddress: "上海市普陀区测试路1号"},
			ResidenceAddress: "浙江省绍兴市上虞区测试路2号", ResidenceStartDate: "2022-03-01"}
	}
	if err := stream.Send(&epermitv1.ImportPermitsRequest{Rows: []*epermitv1.ImportRow{row(2, elsewhere), row(3, fresh)}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	for _, r := range resp.Results {
		if r.Outcome != epermitv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED || r.Status != epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
			t.Fatalf("row %d: %v, want imported PENDING", r.Row, r)
		}
	}
	if got := d.settled(fresh); len(got) != 1 || got[0].Id != resp.Results[1].PermitId || got[0].Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
		t.Errorf("the fresh citizen's permits in force: %v, want %s ACTIVE", got, resp.Results[1].PermitId)
	}
	if got := d.settled(elsewhere); len(got) != 1 || got[0].Id != held.Permit.Id {
		t.Errorf("the citizen of Putuo's permit: %v, want only %s", got, held.Permit.Id)
	}
}
