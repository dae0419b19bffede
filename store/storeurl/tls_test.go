package storeurl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestOpenRedisTLS: a Redis that serves TLS only, wants a client
// certificate from a private CA and a password is opened with
// rediss://:password@host:port/0?ca=…&cert=…&key=…, and a permit written
// through it reads back; a wrong password, a missing client certificate,
// the system roots instead of the private CA, plaintext, and the TLS
// parameters on a redis:// URL are each refused.
func TestOpenRedisTLS(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.NewCA("epermit test Redis CA", now.Add(-2*time.Hour), now.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile := write("ca.pem", ca.CertPEM())
	serverCert, serverKey, err := ca.IssueServer("330604", []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey, err := ca.IssueClient("permitd", "330604", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := write("client.pem", clientCert), write("client.key", clientKey)
	client, err := pki.ClientConfig(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.StartTLS(t, write("server.pem", serverCert), write("server.key", serverKey), caFile, "s3cret", client)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := func(scheme, password, query string) string {
		return fmt.Sprintf("%s://:%s@127.0.0.1:%d/0?%s", scheme, password, srv.Port(), query)
	}
	files := "ca=" + caFile + "&cert=" + certFile + "&key=" + keyFile
	s, err := Open(ctx, url("rediss", "s3cret", files), "330604")
	if err != nil {
		t.Fatalf("open over TLS: %v", err)
	}
	defer s.Close()
	id, err := permitid.New("330604")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePermit(ctx, store.PermitWrite{Permit: storetest.NewPermit(id, citizenid.NewGenerator(17).Next())}); err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
	if _, err := s.GetPermit(ctx, id); err != nil {
		t.Fatalf("read over TLS: %v", err)
	}

	for name, c := range map[string]struct{ url, want string }{
		"a wrong password":                 {url("rediss", "wrong", files), "WRONGPASS"},
		"no client certificate":            {url("rediss", "s3cret", "ca="+caFile), "certificate required"},
		"the system roots":                 {url("rediss", "s3cret", "cert="+certFile+"&key="+keyFile), "unknown authority"},
		"plaintext":                        {url("redis", "s3cret", ""), "unavailable"},
		"TLS files on a redis:// URL":      {url("redis", "s3cret", files), "use rediss://"},
		"a client certificate without key": {url("rediss", "s3cret", "ca="+caFile+"&cert="+certFile), "needs both"},
	} {
		s, err := Open(ctx, c.url, "330604")
		if err == nil {
			s.Close()
			t.Errorf("%s: opened", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v; want an error saying %q, without the password", name, err, c.want)
		}
	}
}
