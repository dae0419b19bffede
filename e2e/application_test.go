package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// applications is m's ApplicationService as the given token.
func (f *federation) applications(m *member, token string) epermitv1.ApplicationServiceClient {
	return epermitv1.NewApplicationServiceClient(f.dial(m, token))
}

// forwarded waits up to limit until the application with this id at m is
// FORWARDED, and returns it.
func (f *federation) forwarded(m *member, id string, limit time.Duration) *epermitv1.Application {
	f.t.Helper()
	c := f.applications(m, m.clerk)
	deadline := time.Now().Add(limit)
	for {
		resp, err := c.GetApplication(ctx(f.t), &epermitv1.GetApplicationRequest{ApplicationId: id})
		if err != nil {
			f.t.Fatal(err)
		}
		a := resp.Application
		if a.State == epermitv1.ApplicationState_APPLICATION_STATE_FORWARDED {
			return a
		}
		if a.State != epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING {
			f.t.Fatalf("application %s at %s is %v, want forwarding then forwarded", id, m.division, a.State)
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("application %s at %s still forwarding after %v", id, m.division, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// remote returns the REMOTE application at m that came from the
// application origin, failing when there is not exactly one.
func (f *federation) remote(m *member, origin string) *epermitv1.Application {
	f.t.Helper()
	resp, err := f.applications(m, m.clerk).ListApplications(ctx(f.t), &epermitv1.ListApplicationsRequest{
		Channel: epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE, PageSize: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	var found []*epermitv1.Application
	for _, a := range resp.Applications {
		if a.OriginApplicationId == origin {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		f.t.Fatalf("%s holds %d applications from %s, want 1: %v", m.division, len(found), origin, resp.Applications)
	}
	return found[0]
}

// TestApplicationForwarding: an application that Putuo takes in for
// Shangyu (异地代收) is forwarded over mutual TLS and appears at Shangyu
// with channel REMOTE and Putuo as the accepting division, its deadline
// running from Putuo's acceptance; Shangyu approves it. One taken in while
// Shangyu is down stays forwarding at Putuo and arrives once Shangyu is
// back.
func TestApplicationForwarding(t *testing.T) {
	shangyu := &member{division: "330604", name: "浙江省绍兴市上虞区", province: "330000"}
	putuo := &member{division: "310107", name: "上海市普陀区", province: "310000"}
	f := startFederation(t, time.Minute, shangyu, putuo)
	ids := citizenid.NewGenerator(404)
	submit := func(requestID string) *epermitv1.Application {
		t.Helper()
		resp, err := f.applications(putuo, putuo.clerk).SubmitApplication(ctx(t), &epermitv1.SubmitApplicationRequest{
			RequestId: requestID,
			Holder: &epermitv1.Holder{Name: "测试者庚", CitizenId: ids.Next(), Ethnicity: "汉",
				HukouAddress: "江苏省南京市玄武区测试街5号"},
			ResidenceAddress:  "浙江省绍兴市上虞区百官街道测试路9号",
			Channel:           epermitv1.ApplicationChannel_APPLICATION_CHANNEL_HALL,
			TargetDivision:    shangyu.division,
			MaterialsProvided: []string{"id_card", "photo", "residence_proof", "study_proof"},
		})
		if err != nil {
			t.Fatal(err)
		}
		a := resp.Application
		if a.State != epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING || a.AcceptingDivision != putuo.division {
			t.Fatalf("taken in for Shangyu: %v", a)
		}
		return a
	}

	sent := submit("app-fwd-1")
	done := f.forwarded(putuo, sent.Id, 30*time.Second)
	got := f.remote(shangyu, sent.Id)
	if done.ForwardedId != got.Id || got.AcceptingDivision != putuo.division || got.TargetDivision != shangyu.division ||
		got.State != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED || got.SubmittedBy != "node-"+putuo.division ||
		got.Holder.CitizenId != sent.Holder.CitizenId {
		t.Fatalf("forwarded %v; at Shangyu %v", done, got)
	}
	if !got.AcceptTime.AsTime().Equal(sent.CreateTime.AsTime()) ||
		!got.Deadline.AsTime().Equal(sent.CreateTime.AsTime().AddDate(0, 0, 15)) || got.Overdue {
		t.Fatalf("deadline at Shangyu: accepted %v, due %v, overdue %v; want 15 days from Putuo's acceptance %v",
			got.AcceptTime.AsTime(), got.Deadline.AsTime(), got.Overdue, sent.CreateTime.AsTime())
	}
	approved, err := f.applications(shangyu, shangyu.clerk).ApproveApplication(ctx(t), &epermitv1.ApproveApplicationRequest{
		RequestId: "app-fwd-approve", ApplicationId: got.Id, Version: got.Version})
	if err != nil {
		t.Fatal(err)
	}
	if approved.Permit.GetIssuingDivision() != shangyu.division || approved.Application.PermitId != approved.Permit.GetId() {
		t.Fatalf("approved at Shangyu: %v", approved)
	}

	// Shangyu down: the application waits at Putuo, and arrives once
	// Shangyu is back.
	shangyu.node.stop()
	late := submit("app-fwd-2")
	time.Sleep(2 * time.Second)
	c := f.applications(putuo, putuo.clerk)
	if resp, err := c.GetApplication(ctx(t), &epermitv1.GetApplicationRequest{ApplicationId: late.Id}); err != nil ||
		resp.Application.State != epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING {
		t.Fatalf("with Shangyu down: %v, %v; want still forwarding", resp, err)
	}
	shangyu.node = startNode(t, shangyu.data, "--config", filepath.Join(shangyu.data, "permitd.yaml"), "--log-level", "warn")
	shangyu.node.data = shangyu.data
	done = f.forwarded(putuo, late.Id, 90*time.Second)
	if got := f.remote(shangyu, late.Id); got.Id != done.ForwardedId || got.Channel != epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE {
		t.Fatalf("after Shangyu's restart: forwarded %v, at Shangyu %v", done, got)
	}
	shangyu.node.stop()
	putuo.node.stop()
}

// TestPermitctlApplications follows the README's application steps with
// permitctl against a real permitd: missing materials told at once,
// supplemented, approved (one permit, also when retried), another rejected
// by a supervisor, listed with the overdue count.
func TestPermitctlApplications(t *testing.T) {
	n := startTestNode(t, "")
	s := n.staff()
	c := ctl{t: t, addr: n.addr, dir: t.TempDir()}
	clerk, sup := c.as(s.clerk), c.as(s.supervisor)
	holder := []string{"--name", "测试者丙", "--citizen-id", "110101199003074514", "--ethnicity", "回",
		"--hukou-address", "北京市东城区测试胡同1号", "--residence-address", "浙江省绍兴市上虞区测试路2号"}

	r := clerk.ok("", append([]string{"application", "submit", "--material", "id_card,photo"}, holder...)...)
	if !strings.Contains(r.stdout, "materials-required") || !strings.Contains(r.stdout, "residence_proof") ||
		!strings.Contains(r.stdout, "condition_proof") || !strings.Contains(r.stderr, "一次性告知") {
		t.Fatalf("submit with materials missing:\n%s\n%s", r.stdout, r.stderr)
	}
	list := clerk.jsonOf("application", "list", "--state", "materials-required")
	apps := list["applications"].([]any)
	if len(apps) != 1 {
		t.Fatalf("list --state materials-required: %v", list)
	}
	id := apps[0].(map[string]any)["id"].(string)
	supplemented := clerk.jsonOf("application", "supplement", id, "--material", "residence_proof,employment_proof")
	if a := supplemented["application"].(map[string]any); a["state"] != "APPLICATION_STATE_ACCEPTED" || a["deadline_days"] != float64(15) {
		t.Fatalf("after the supplement: %v", a)
	}
	approve := []string{"application", "approve", id, "--request-id", "e2e-approve-1"}
	approved := clerk.jsonOf(approve...)
	permitID := approved["permit"].(map[string]any)["id"].(string)
	if approved["application"].(map[string]any)["permit_id"] != permitID {
		t.Fatalf("approve: %v", approved)
	}
	if again := clerk.jsonOf(approve...); again["permit"].(map[string]any)["id"] != permitID {
		t.Fatalf("retried approve: %v, want permit %s", again, permitID)
	}
	if r := clerk.ok("", "list"); strings.Count(r.stdout, "330604-") != 1 {
		t.Fatalf("permits after approving twice:\n%s", r.stdout)
	}

	other := append([]string{"application", "submit"}, holder...)
	other[5] = "340104199003077311" // another citizen
	clerk.ok("", append(other, "--channel", "online")...)
	second := clerk.jsonOf("application", "list", "--channel", "online")["applications"].([]any)[0].(map[string]any)["id"].(string)
	r = sup.ok("", "application", "reject", second, "--reason", "居住未满六个月")
	if !strings.Contains(r.stdout, "rejected") || !strings.Contains(r.stdout, "居住未满六个月") {
		t.Fatalf("reject:\n%s", r.stdout)
	}
	r = clerk.ok("", "application", "list", "--overdue")
	if !strings.Contains(r.stderr, "No applications found.") || !strings.Contains(r.stderr, "Overdue applications: 0.") {
		t.Fatalf("list --overdue:\n%s\n%s", r.stdout, r.stderr)
	}
	n.stop()
}
