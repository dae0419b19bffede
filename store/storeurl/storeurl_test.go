package storeurl

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yrd-epermit/epermit/store/redis/redistest"
)

// TestOpenRedis opens a store on a redis-server and on a Redis Cluster of
// three masters by their URLs.
func TestOpenRedis(t *testing.T) {
	srv := redistest.Start(t)
	cluster := "redis+cluster://" + strings.TrimPrefix(redistest.StartCluster(t, 3), "redis://")
	for _, u := range []string{srv.URL(), cluster} {
		s, err := Open(context.Background(), u, "330604")
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if _, err := s.ListAccounts(context.Background()); err != nil {
			t.Fatalf("%s: ListAccounts: %v", u, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenBolt(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{filepath.Join(dir, "a.db"), "file://" + filepath.Join(dir, "b.db")} {
		s, err := Open(context.Background(), u, "330604")
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefused(t *testing.T) {
	for _, u := range []string{"", "mysql://db/x", "file://"} {
		if s, err := Open(context.Background(), u, "330604"); err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", u)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis://user:secret@127.0.0.1:6379/0": "redis://user:xxxxx@127.0.0.1:6379/0",
		"rediss://:secret@redis:6380":          "rediss://:xxxxx@redis:6380",
		"redis://127.0.0.1:6379":               "redis://127.0.0.1:6379",
		"/var/lib/permitd/permits.db":          "/var/lib/permitd/permits.db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
