package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

var newKeyLine = regexp.MustCompile(`new issuer key ([0-9a-f]{16}); its public key is in (\S+)`)

// TestKeyCompromiseDrill: Shangyu's issuer key is compromised. The node
// gets a new key (permitd new-issuer-key, restart), the registry lists
// it and removes the compromised one: the old credentials are refused at
// Shangyu and at Putuo. permitctl key resign re-signs the permits; permitd
// is killed (SIGKILL) in the middle, restarted, and the same command run
// again completes: every permit re-signed exactly once (version +1), its
// credential signed with the new key, VALID at both nodes, and the
// --credentials export holds them all.
func TestKeyCompromiseDrill(t *testing.T) {
	shangyu := &member{division: "330604", name: "浙江省绍兴市上虞区", province: "330000"}
	putuo := &member{division: "310107", name: "上海市普陀区", province: "310000"}
	f := startFederation(t, time.Minute, shangyu, putuo)
	clerk := f.permits(shangyu, shangyu.clerk)

	const n = 200
	gen := citizenid.NewGenerator(404)
	issued := map[string]*epermitv1.IssuePermitResponse{}
	var ids []string
	for i := range n {
		resp, err := clerk.IssuePermit(ctx(t), issueRequest(fmt.Sprintf("drill-%d", i), gen.Next()))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Credential == nil {
			t.Fatalf("permit %d not in force: %v", i, resp.Permit)
		}
		issued[resp.Permit.Id] = resp
		ids = append(ids, resp.Permit.Id)
	}
	slices.Sort(ids)
	oldText := issued[ids[0]].Credential.Text
	f.eventually(putuo, oldText, "a credential of the first key", verdictIs(epermitv1.Verdict_VERDICT_VALID))
	issuerKey := func() string {
		k, err := clerk.GetIssuerKey(ctx(t), &epermitv1.GetIssuerKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return k.Kid
	}
	compromised := issuerKey()

	// The member makes a new key and restarts; the registry lists the new
	// key from now and removes the compromised one at once.
	shangyu.node.stop()
	out, err := runPermitd(t, "new-issuer-key", "-data", shangyu.data)
	m := newKeyLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("permitd new-issuer-key: %v\n%s", err, out)
	}
	newKID := m[1]
	pemData, err := os.ReadFile(m[2])
	if err != nil {
		t.Fatal(err)
	}
	newPub, err := credential.ParsePublicKeyPEM(pemData)
	if err != nil {
		t.Fatal(err)
	}
	restart := func() {
		shangyu.node = startNode(t, shangyu.data, "--config", filepath.Join(shangyu.data, "permitd.yaml"), "--log-level", "warn")
		shangyu.node.data = shangyu.data
	}
	restart()
	now := time.Now().Truncate(time.Second)
	f.list.Sequence++
	f.list.IssuedAt = now.Add(-time.Second)
	for i, mb := range f.list.Members {
		if mb.Division == shangyu.division {
			f.list.Members[i].Keys = []trust.IssuerKey{{KID: newKID, Algorithm: trust.AlgorithmEdDSA, PublicKey: newPub,
				NotBefore: now, NotAfter: now.AddDate(1, 0, 0)}}
		}
	}
	signed, err := trust.Sign(f.list, f.registry)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.listFile+".tmp", signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.listFile+".tmp", f.listFile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return issuerKey() == newKID }, "Shangyu signing with the new key")
	f.eventually(shangyu, oldText, "the compromised key's credential", verdictIs(epermitv1.Verdict_VERDICT_NOT_VALID))
	f.eventually(putuo, oldText, "the compromised key's credential", verdictIs(epermitv1.Verdict_VERDICT_NOT_VALID))

	// The drill, one permit a transaction, with permitd killed midway.
	admin, err := os.ReadFile(filepath.Join(shangyu.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(f.dir, "pki")
	dir := t.TempDir()
	drill := func(extra ...string) *exec.Cmd {
		args := append([]string{"--ca", filepath.Join(pkiDir, "ca.pem"), "--cert", filepath.Join(pkiDir, "hall.pem"),
			"--key", filepath.Join(pkiDir, "hall.key"), "key", "resign", "--compromised", compromised, "--yes"}, extra...)
		cmd := exec.Command(permitctlBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PERMITCTL_SERVER="+shangyu.addr, "XDG_CONFIG_HOME="+dir,
			"PERMITCTL_TOKEN="+strings.TrimSpace(string(admin)))
		return cmd
	}
	first := drill("--batch", "1")
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		p, err := clerk.GetPermit(ctx(t), &epermitv1.GetPermitRequest{PermitId: ids[0]})
		return err == nil && p.Permit.Version > issued[ids[0]].Permit.Version
	}, "the first permit re-signed")
	shangyu.node.kill()
	if err := first.Wait(); err == nil || !strings.Contains(firstErr.String(), "run the same command again") {
		t.Fatalf("permitctl with permitd killed: %v\n%s", err, firstErr.String())
	}
	restart()
	clerk = f.permits(shangyu, shangyu.clerk)
	done := 0
	for _, id := range ids {
		p, err := clerk.GetPermit(ctx(t), &epermitv1.GetPermitRequest{PermitId: id})
		if err != nil {
			t.Fatal(err)
		}
		if p.Permit.Version > issued[id].Permit.Version {
			done++
		}
	}
	t.Logf("permitd killed after %d of %d permits re-signed", done, n)

	credsFile := filepath.Join(dir, "credentials.jsonl")
	second := drill("--credentials", credsFile, "-o", "json")
	var stdout, stderr bytes.Buffer
	second.Stdout, second.Stderr = &stdout, &stderr
	if err := second.Run(); err != nil {
		t.Fatalf("permitctl key resign again: %v\n%s", err, stderr.String())
	}
	var sum struct {
		KID         string `json:"kid"`
		Total       int    `json:"total"`
		Resigned    int    `json:"resigned"`
		Credentials int    `json:"credentials"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout.String())
	}
	if sum.KID != newKID || sum.Total != n-done || sum.Resigned != n-done || sum.Credentials != n {
		t.Errorf("summary of the rerun %+v, want kid %s, %d left and re-signed, %d credentials", sum, newKID, n-done, n)
	}
	for _, id := range ids {
		p, err := clerk.GetPermit(ctx(t), &epermitv1.GetPermitRequest{PermitId: id})
		if err != nil {
			t.Fatal(err)
		}
		if want := issued[id].Permit.Version + 1; p.Permit.Version != want || p.Credential.GetKid() != newKID {
			t.Errorf("permit %s: version %d kid %s, want version %d kid %s", id, p.Permit.Version, p.Credential.GetKid(), want, newKID)
		}
	}
	file, err := os.Open(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	exported := map[string]string{}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var line struct {
			PermitID   string `json:"permit_id"`
			KID        string `json:"kid"`
			Credential string `json:"credential"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.KID != newKID {
			t.Fatalf("credentials line %q: %v", sc.Text(), err)
		}
		exported[line.PermitID] = line.Credential
	}
	if len(exported) != n {
		t.Fatalf("%d credentials exported, want %d", len(exported), n)
	}
	f.eventually(shangyu, exported[ids[0]], "the new credential", verdictIs(epermitv1.Verdict_VERDICT_VALID))
	f.eventually(putuo, exported[ids[n-1]], "the new credential", verdictIs(epermitv1.Verdict_VERDICT_VALID))
	f.eventually(putuo, oldText, "the compromised key's credential", verdictIs(epermitv1.Verdict_VERDICT_NOT_VALID))
}
