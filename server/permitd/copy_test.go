package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestCopyCommand runs permitd copy between two bbolt files: usage
// mistakes exit with 2, a copy with 0, its summary on stdout and plain
// progress lines on stderr (not a terminal), and a second copy into the
// same target with 1.
func TestCopyCommand(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	s, err := bolt.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(context.Background(), storetest.NewAccount("admin", "admin-token"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "dst.db")
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		out    string // in stdout
		errOut string // in stderr
	}{
		{"no flags", nil, 2, "", "--from and --to are both required"},
		{"same store", []string{"--from", src, "--to", src}, 2, "", "name the same store"},
		{"unknown division", []string{"--division", "999999", "--from", src, "--to", dst}, 2, "", "999999"},
		{"missing source", []string{"--from", filepath.Join(dir, "none.db"), "--to", dst}, 1, "", "no such file"},
		{"copy", []string{"--from", src, "--to", dst}, 0, "the copy is complete", "permitd copy: check: 1 of about 1 records"},
		{"target not empty", []string{"--from", src, "--to", dst}, 1, "", `not empty: it holds account "admin"`},
		{"resume", []string{"--resume", "--from", src, "--to", dst}, 0, "the copy is complete", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PERMITD_DIVISION", "")
			t.Setenv("PERMITD_CONFIG", "")
			var stdout, stderr bytes.Buffer
			status := runCopy(tc.args, &stdout, &stderr)
			if status != tc.status || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.errOut) {
				t.Fatalf("permitd copy %v: status %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.args, status, tc.status, &stdout, &stderr)
			}
		})
	}
}
