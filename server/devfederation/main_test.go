package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/yrd-epermit/epermit/pki"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestDemo runs the documented demo: a permit issued in Shangyu verifies
// as VALID in Putuo once Putuo has fetched Shangyu's status list; after
// the resident's transfer to Yuhang it is superseded, NOT VALID in Putuo.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, dir, out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "Ctrl-C stops"); {
		select {
		case err := <-done:
			t.Fatalf("the demo stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo did not start in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	dial := func(addr, division string) epermitv1.PermitServiceClient {
		token, err := os.ReadFile(filepath.Join(dir, division, "clerk.token"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "pki")
		tc, err := pki.ClientConfig(filepath.Join(p, "ca.pem"), filepath.Join(p, "hall.pem"), filepath.Join(p, "hall.key"))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)),
			grpc.WithPerRPCCredentials(bearer(strings.TrimSpace(string(token)))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return epermitv1.NewPermitServiceClient(conn)
	}
	issued, err := dial("127.0.0.1:7710", "330604").IssuePermit(context.Background(), &epermitv1.IssuePermitRequest{
		RequestId: "demo-1",
		Holder: &epermitv1.Holder{Name: "测试者甲", CitizenId: "340104199003077311", Ethnicity: "汉",
			HukouAddress: "安徽省合肥市蜀山区测试路1号"},
		ResidenceAddress: "浙江省绍兴市上虞区测试路2号"})
	if err != nil {
		t.Fatal(err)
	}
	putuo := dial("127.0.0.1:7711", "310107")
	verifiedAs := func(want epermitv1.Verdict) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; {
			v, err := putuo.VerifyPermit(context.Background(), &epermitv1.VerifyPermitRequest{
				Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: issued.Credential.Text}})
			if err != nil {
				t.Fatal(err)
			}
			if v.Verdict == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Putuo still answers %v", v)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	verifiedAs(epermitv1.Verdict_VERDICT_VALID)
	moved, err := dial("127.0.0.1:7712", "330110").TransferPermit(context.Background(), &epermitv1.TransferPermitRequest{
		RequestId: "demo-2", CredentialText: issued.Credential.Text, CitizenId: "340104199003077311",
		ResidenceAddress: "浙江省杭州市余杭区测试路9号"})
	if err != nil {
		t.Fatal(err)
	}
	if moved.Permit.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE || len(moved.Permit.PriorResidence) != 1 {
		t.Fatalf("transferred to Yuhang: %v", moved.Permit)
	}
	verifiedAs(epermitv1.Verdict_VERDICT_NOT_VALID)
}
