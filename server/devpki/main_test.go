package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yrd-epermit/epermit/pki"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		args      []string // "DIR" is replaced by a fresh folder
		wantErr   string   // substring; "" for success
		wantUsage bool
		wantOut   []string // substrings of stdout, DIR replaced
		wantFiles []string
	}{
		{
			name: "example from the docs",
			args: []string{"-dir", "DIR", "-division", "330604", "-host", "localhost", "-host", "127.0.0.1",
				"-client", "admin", "-client", "clerk1", "-client", "partner-310101:310101"},
			wantOut: []string{
				"330604 浙江省绍兴市上虞区",
				"--tls-cert DIR/node.pem --tls-key DIR/node.key --client-ca DIR/ca.pem",
				"--server localhost:7700 --ca DIR/ca.pem --cert DIR/clerk1.pem --key DIR/clerk1.key",
				"--cert DIR/partner-310101.pem --key DIR/partner-310101.key",
				"account partner-310101, division 310101",
				"account admin, division 330604",
			},
			wantFiles: []string{"ca.pem", "ca.key", "node.pem", "node.key", "admin.pem", "admin.key", "clerk1.pem", "clerk1.key", "partner-310101.pem", "partner-310101.key"},
		},
		{
			name:      "defaults",
			args:      []string{"-dir", "DIR"},
			wantOut:   []string{"for localhost, 127.0.0.1", "--division 330604 --tls-cert DIR/node.pem"},
			wantFiles: []string{"ca.pem", "ca.key", "node.pem", "node.key"},
		},
		{
			name:      "IPv6 first host",
			args:      []string{"-dir", "DIR", "-host", "::1", "-client", "clerk1"},
			wantOut:   []string{"--server [::1]:7700"},
			wantFiles: []string{"clerk1.pem", "clerk1.key"},
		},
		{name: "help", args: []string{"-help"}, wantErr: flag.ErrHelp.Error()},
		{name: "unknown flag", args: []string{"-dir", "DIR", "-bogus"}, wantErr: "bogus", wantUsage: true},
		{name: "stray argument", args: []string{"-dir", "DIR", "admin"}, wantErr: `unexpected argument "admin"`, wantUsage: true},
		{name: "empty dir", args: []string{"-dir", ""}, wantErr: "-dir is empty", wantUsage: true},
		{name: "unknown division", args: []string{"-dir", "DIR", "-division", "999999"}, wantErr: `"999999"`, wantUsage: true},
		{name: "prefecture division", args: []string{"-dir", "DIR", "-division", "330600"}, wantErr: "not county-level", wantUsage: true},
		{name: "unknown client division", args: []string{"-dir", "DIR", "-client", "partner:999999"}, wantErr: `"999999"`, wantUsage: true},
		{name: "client division empty", args: []string{"-dir", "DIR", "-client", "partner:"}, wantErr: `division ""`, wantUsage: true},
		{name: "client name empty", args: []string{"-dir", "DIR", "-client", ":310101"}, wantErr: "account name is empty", wantUsage: true},
		{name: "bad account name", args: []string{"-dir", "DIR", "-client", "Clerk1"}, wantErr: `"Clerk1"`},
		{name: "account twice", args: []string{"-dir", "DIR", "-client", "clerk1", "-client", "clerk1:310101"}, wantErr: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "DIR", dir)
			}
			var stdout, stderr bytes.Buffer
			err := run(args, &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %s", err, tt.wantErr)
				}
				if isUsage := errors.As(err, new(usageError)); isUsage != tt.wantUsage {
					t.Errorf("usage error %v, want %v", isUsage, tt.wantUsage)
				}
				if _, err := os.Stat(dir); err == nil {
					t.Errorf("%s was created despite the error", dir)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
			}
			out := stdout.String()
			for _, s := range tt.wantOut {
				if s = strings.ReplaceAll(s, "DIR", dir); !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, f := range tt.wantFiles {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("file not written: %v", err)
				}
			}
			if _, err := pki.LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")); err != nil {
				t.Errorf("written CA does not load: %v", err)
			}
		})
	}
}

func TestRunRefusesToOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	var out bytes.Buffer
	if err := run([]string{"-dir", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	err = run([]string{"-dir", dir, "-client", "clerk1"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "ca.key already exists") {
		t.Fatalf("second run: error %v, want ca.key already exists", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if !bytes.Equal(before, after) {
		t.Error("second run changed ca.key")
	}
	if _, err := os.Stat(filepath.Join(dir, "clerk1.pem")); err == nil {
		t.Error("second run wrote clerk1.pem")
	}
}
