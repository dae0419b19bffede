package command

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Synthetic applications: made-up people, citizen ids with valid check
// characters.

// acceptedApplication is an accepted hall application, overdue.
func acceptedApplication() *epermitv1.Application {
	return &epermitv1.Application{
		Id: "A330604-0G3K2M9QXW3B7",
		Holder: &epermitv1.Holder{Name: "测试者丁", CitizenId: "340104199001010025", Sex: epermitv1.Sex_SEX_FEMALE,
			BirthDate: "1990-01-01", Ethnicity: "汉", HukouAddress: "安徽省合肥市庐阳区测试路3号"},
		ResidenceAddress:   "浙江省绍兴市上虞区曹娥街道测试小区5幢101室",
		ResidenceStartDate: "2025-09-01",
		Channel:            epermitv1.ApplicationChannel_APPLICATION_CHANNEL_HALL,
		TargetDivision:     "330604",
		AcceptingDivision:  "330604",
		MaterialsProvided:  []string{"id_card", "photo", "residence_proof", "employment_proof"},
		State:              epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED,
		AcceptTime:         ts("2026-04-01 10:00:00"),
		Deadline:           ts("2026-04-16 10:00:00"),
		DeadlineDays:       15,
		Overdue:            true,
		SubmittedBy:        "clerk.wang",
		Version:            1,
		CreateTime:         ts("2026-04-01 10:00:00"),
		UpdateTime:         ts("2026-04-01 10:00:00"),
	}
}

// incompleteApplication waits for materials, one of them a choice.
func incompleteApplication() *epermitv1.Application {
	return &epermitv1.Application{
		Id: "A330604-0G3K2N1AB4C5D",
		Holder: &epermitv1.Holder{Name: "测试者戊", CitizenId: "110101199003074514", Sex: epermitv1.Sex_SEX_MALE,
			BirthDate: "1990-03-07", Ethnicity: "回", HukouAddress: "北京市东城区测试胡同1号"},
		ResidenceAddress:   "浙江省绍兴市上虞区百官街道测试路8号",
		ResidenceStartDate: "2025-11-20",
		Channel:            epermitv1.ApplicationChannel_APPLICATION_CHANNEL_ONLINE,
		TargetDivision:     "330604",
		AcceptingDivision:  "330604",
		MaterialsProvided:  []string{"id_card"},
		MissingMaterials: []*epermitv1.MissingMaterial{
			{Code: "photo", NameZh: "近期免冠照片", NameEn: "recent photo"},
			{Code: "condition_proof", NameZh: "合法稳定就业、合法稳定住所或连续就读证明（三者之一）",
				NameEn: "proof of lawful stable employment, lawful stable residence or continuous study (one of the three)",
				AnyOf: []*epermitv1.Material{
					{Code: "employment_proof", NameZh: "合法稳定就业证明", NameEn: "proof of lawful stable employment"},
					{Code: "stable_residence_proof", NameZh: "合法稳定住所证明", NameEn: "proof of lawful stable residence"},
					{Code: "study_proof", NameZh: "连续就读证明", NameEn: "proof of continuous study"},
				}},
		},
		State:       epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED,
		SubmittedBy: "clerk.wang",
		Version:     1,
		CreateTime:  ts("2026-04-02 09:15:00"),
		UpdateTime:  ts("2026-04-02 09:15:00"),
	}
}

// remoteApplication came from Putuo for this node and was rejected.
func remoteApplication() *epermitv1.Application {
	a := acceptedApplication()
	a.Id = "A330604-0G3K2P7RS8T9U"
	a.Holder.Name, a.Holder.CitizenId = "测试者己", "320502199512120029"
	a.Holder.BirthDate = "1995-12-12"
	a.Channel = epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE
	a.AcceptingDivision = "310107"
	a.OriginApplicationId = "A310107-0G3K1Z9YX8W7V"
	a.SubmittedBy = "partner-310107"
	a.Overdue = false
	a.State = epermitv1.ApplicationState_APPLICATION_STATE_REJECTED
	a.RejectionReasons = []string{"居住未满六个月", "no proof of employment"}
	a.DecidedBy, a.DecideTime = "sup.li", ts("2026-04-05 11:20:00")
	a.Version = 2
	return a
}

// approvedApplication is acceptedApplication approved with activePermit.
func approvedApplication() *epermitv1.Application {
	a := acceptedApplication()
	a.State, a.Overdue, a.PermitId = epermitv1.ApplicationState_APPLICATION_STATE_APPROVED, false, activePermit().GetId()
	a.DecidedBy, a.DecideTime, a.Version = "clerk.wang", ts("2026-04-03 15:00:00"), 2
	return a
}

// forwardingApplication was taken in here for Putuo.
func forwardingApplication() *epermitv1.Application {
	a := acceptedApplication()
	a.Id = "A330604-0G3K2Q2WE3R4T"
	a.TargetDivision = "310107"
	a.State, a.Overdue = epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING, false
	a.AcceptTime, a.Deadline, a.DeadlineDays = nil, nil, 0
	return a
}

// The application printers' cases join TestPrinters' golden files.
func init() {
	for _, c := range []struct {
		name  string
		print func(applicationPrinter) error
	}{
		{"application_accepted", func(p applicationPrinter) error { return p.Application(acceptedApplication(), nil) }},
		{"application_missing", func(p applicationPrinter) error { return p.Application(incompleteApplication(), nil) }},
		{"application_approved", func(p applicationPrinter) error { return p.Application(approvedApplication(), activePermit()) }},
		{"application_remote_rejected", func(p applicationPrinter) error { return p.Application(remoteApplication(), nil) }},
		{"application_forwarding", func(p applicationPrinter) error { return p.Application(forwardingApplication(), nil) }},
		{"applications", func(p applicationPrinter) error {
			return p.Applications(&epermitv1.ListApplicationsResponse{
				Applications: []*epermitv1.Application{acceptedApplication(), incompleteApplication(), remoteApplication()},
				OverdueCount: 1,
			})
		}},
		{"applications_more", func(p applicationPrinter) error {
			return p.Applications(&epermitv1.ListApplicationsResponse{
				Applications: []*epermitv1.Application{acceptedApplication()}, NextPageToken: "MC4wLmZhbHNlL0EzMzA2MDQ", OverdueCount: 1,
			})
		}},
		{"applications_empty", func(p applicationPrinter) error { return p.Applications(&epermitv1.ListApplicationsResponse{}) }},
	} {
		printerCases = append(printerCases, struct {
			name  string
			print func(printer) error
		}{c.name, func(p printer) error { return c.print(p.(applicationPrinter)) }})
	}
}

// TestApplicationCommands follows applications through the fake node:
// submitted with materials missing, supplemented, approved; another
// rejected; listed and shown as JSON.
func TestApplicationCommands(t *testing.T) {
	node, addr := startFakeNode(t)
	run := func(args ...string) cliResult {
		t.Helper()
		return runCLI(t, nil, append([]string{"--server", addr}, args...)...)
	}
	holder := []string{"--name", "测试者戊", "--citizen-id", "110101199003074514", "--ethnicity", "回",
		"--hukou-address", "北京市东城区测试胡同1号", "--residence-address", "浙江省绍兴市上虞区百官街道测试路8号"}

	r := run(append([]string{"application", "submit", "--material", "id_card", "--channel", "online",
		"--residence-start", "2025-11-20", "--request-id", "sub-1"}, holder...)...)
	if r.err != nil || !strings.Contains(r.stdout, "materials-required") || !strings.Contains(r.stdout, "photo") ||
		!strings.Contains(r.stderr, "一次性告知") {
		t.Fatalf("submit: err %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	got := node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.SubmitApplicationRequest{
		RequestId: "sub-1",
		Holder: &epermitv1.Holder{Name: "测试者戊", CitizenId: "110101199003074514", Ethnicity: "回",
			HukouAddress: "北京市东城区测试胡同1号"},
		ResidenceAddress: "浙江省绍兴市上虞区百官街道测试路8号", ResidenceStartDate: "2025-11-20",
		Channel: epermitv1.ApplicationChannel_APPLICATION_CHANNEL_ONLINE, MaterialsProvided: []string{"id_card"},
	})
	id := "A330604-0000000000001"

	r = run("application", "supplement", id, "--material", "photo,residence_proof", "--request-id", "sup-1")
	if r.err != nil || !strings.Contains(r.stdout, "accepted") {
		t.Fatalf("supplement: err %v\n%s", r.err, r.stdout)
	}
	got = node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.SupplementApplicationRequest{
		RequestId: "sup-1", ApplicationId: id, Version: 1, MaterialsProvided: []string{"photo", "residence_proof"}})

	r = run("application", "approve", id, "--if-version", "1")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "aborted") {
		t.Fatalf("approve of a stale version: exit %d, err %v", r.code, r.err)
	}
	r = run("application", "approve", id, "--request-id", "appr-1", "-o", "json")
	var approved epermitv1.ApproveApplicationResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &approved); r.err != nil || err != nil ||
		approved.GetApplication().GetState() != epermitv1.ApplicationState_APPLICATION_STATE_APPROVED ||
		approved.GetPermit().GetId() != activePermit().GetId() {
		t.Fatalf("approve -o json: err %v, %v\n%s", r.err, err, r.stdout)
	}
	got = node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.ApproveApplicationRequest{RequestId: "appr-1", ApplicationId: id, Version: 2})

	r = run(append([]string{"application", "submit", "--target", "310107", "--material", "id_card,photo"}, holder...)...)
	if r.err != nil || !strings.Contains(r.stdout, "forwarding") || !strings.Contains(r.stderr, "异地代收") {
		t.Fatalf("submit for another member: err %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if req := node.received(); req[len(req)-1].(*epermitv1.SubmitApplicationRequest).GetTargetDivision() != "310107" ||
		req[len(req)-1].(*epermitv1.SubmitApplicationRequest).GetChannel() != epermitv1.ApplicationChannel_APPLICATION_CHANNEL_HALL {
		t.Fatalf("submit --target sent %v, want target 310107 and the default channel hall", req[len(req)-1])
	}

	node.apps.add(remoteApplication())
	r = run("application", "reject", "A330604-0000000000002")
	if r.code != exitUsage || !strings.Contains(r.err.Error(), "--reason") {
		t.Fatalf("reject without a reason: exit %d, err %v", r.code, r.err)
	}
	r = run("application", "reject", "A330604-0000000000002", "--reason", "居住未满六个月", "--reason", "no proof, of employment",
		"--request-id", "rej-1")
	if r.err != nil || !strings.Contains(r.stdout, "rejected") {
		t.Fatalf("reject: err %v\n%s", r.err, r.stdout)
	}
	got = node.received()
	mustEqual(t, got[len(got)-1], &epermitv1.RejectApplicationRequest{RequestId: "rej-1", ApplicationId: "A330604-0000000000002",
		Version: 1, Reasons: []string{"居住未满六个月", "no proof, of employment"}})

	r = run("application", "list", "--channel", "remote", "-o", "json")
	var list epermitv1.ListApplicationsResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &list); r.err != nil || err != nil || len(list.GetApplications()) != 1 ||
		list.GetApplications()[0].GetId() != remoteApplication().GetId() {
		t.Fatalf("list --channel remote: err %v, %v\n%s", r.err, err, r.stdout)
	}
	if req := node.lastCall(t).req.(*epermitv1.ListApplicationsRequest); req.GetChannel() != epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE {
		t.Fatalf("list --channel remote sent %v", req)
	}
	r = run("application", "list", "--page-size", "1", "--all")
	if r.err != nil || strings.Count(r.stdout, "A330604-") != 3 || !strings.Contains(r.stderr, "Overdue applications: 0.") {
		t.Fatalf("list --all: err %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	r = run("application", "list", "--overdue", "--state", "accepted")
	if req := node.lastCall(t).req.(*epermitv1.ListApplicationsRequest); r.err != nil || !req.GetOverdue() ||
		req.GetState() != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED {
		t.Fatalf("list --overdue --state accepted: err %v, sent %v", r.err, req)
	}
	r = run("application", "list", "--state", "pending")
	if r.code != exitUsage {
		t.Fatalf("list --state pending: exit %d, err %v; want a usage error", r.code, r.err)
	}
	r = run("app", "show", remoteApplication().GetId())
	if r.err != nil || !strings.Contains(r.stdout, "A310107-0G3K1Z9YX8W7V") {
		t.Fatalf("show: err %v\n%s", r.err, r.stdout)
	}
	r = run("application", "show", "A330604-0000000000009")
	if r.code != exitFailure || !strings.Contains(client.Describe(r.err), "not found") {
		t.Fatalf("show of a missing application: exit %d, err %v", r.code, r.err)
	}
}
