package storeurl

import (
	"context"
	"path/filepath"
	"testing"
)

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
