package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestRedisStore starts two nodes of one division on one redis-server
// (--store redis://…), each with a data folder of its own: the first
// creates the bootstrap admin, and the second knows that account, since
// they share the store.
func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	start := func() *Node {
		cfg := DefaultConfig()
		cfg.Listen, cfg.Data, cfg.Store, cfg.Log.Level = "127.0.0.1:0", filepath.Join(t.TempDir(), "data"), srv.URL(), "error"
		n, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		go n.Serve()
		t.Cleanup(func() { n.Shutdown(context.Background()) })
		return n
	}
	first := start()
	token, err := os.ReadFile(first.BootstrapTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	second := start()
	if _, err := os.Stat(second.BootstrapTokenFile()); err == nil {
		t.Fatal("the second node created a bootstrap admin of its own")
	}
	conn, err := grpc.NewClient(second.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(strings.TrimSpace(string(token)))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	who, err := epermitv1.NewAccountServiceClient(conn).WhoAmI(t.Context(), &epermitv1.WhoAmIRequest{})
	if err != nil {
		t.Fatalf("WhoAmI on the second node with the first node's admin token: %v", err)
	}
	if got := who.String(); !strings.Contains(got, "admin") {
		t.Fatalf("WhoAmI = %v, want the bootstrap admin", got)
	}
}
