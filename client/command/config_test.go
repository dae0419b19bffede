package command

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestServerPrecedence checks --server > PERMITCTL_SERVER > config file >
// default, with the config file found in its default place.
func TestServerPrecedence(t *testing.T) {
	flagNode, flagAddr := startFakeNode(t, activePermit())
	envNode, envAddr := startFakeNode(t, activePermit())
	cfgNode, cfgAddr := startFakeNode(t, activePermit())
	dir, err := os.UserConfigDir() // in TestMain's temporary home
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "epermit/permitctl.yaml", "server: "+cfgAddr+"\n", 0o644)
	t.Cleanup(func() { os.RemoveAll(filepath.Join(dir, "epermit")) })
	explicit := writeFile(t, t.TempDir(), "other.yaml", "server: "+envAddr+"\n", 0o644)

	tests := []struct {
		name string
		env  string
		args []string
		want *fakeNode
	}{
		{name: "default config file", want: cfgNode},
		{name: "environment beats config", env: envAddr, want: envNode},
		{name: "flag beats environment", env: envAddr, args: []string{"--server", flagAddr}, want: flagNode},
		{name: "--config names another file", args: []string{"--config", explicit}, want: envNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(serverEnv, tt.env)
			}
			before := len(tt.want.receivedCalls())
			if r := runCLI(t, nil, append(tt.args, "show", "330604-4F7K2M9QXW3B7")...); r.err != nil {
				t.Fatal(r.err)
			}
			if len(tt.want.receivedCalls()) != before+1 {
				t.Errorf("the call went elsewhere")
			}
		})
	}
	t.Run(`--config "" reads no file`, func(t *testing.T) {
		r := runCLI(t, nil, "--config", "", "--timeout", "2s", "show", "330604-4F7K2M9QXW3B7")
		if r.err == nil || !strings.Contains(r.err.Error(), defaultServer) {
			t.Errorf("err %v; want the default server %s", r.err, defaultServer)
		}
	})
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		perm    os.FileMode
		want    fileConfig
		wantErr string
	}{
		{name: "empty", content: "", perm: 0o644},
		{name: "comments only", content: "# permitctl\n", perm: 0o644},
		{name: "every key", perm: 0o600,
			content: "server: permitd.330604.example:7700\ntoken: epk_x\nca: /etc/epermit/ca.pem\ncert: certs/c.pem\nkey: certs/c.key\npurpose: audit sample\n",
			want: fileConfig{Server: "permitd.330604.example:7700", Token: "epk_x", CA: "/etc/epermit/ca.pem",
				Cert: filepath.Join(dir, "certs/c.pem"), Key: filepath.Join(dir, "certs/c.key"), Purpose: "audit sample"}},
		{name: "token_file relative", content: "token_file: clerk.token\n", perm: 0o644,
			want: fileConfig{TokenFile: filepath.Join(dir, "clerk.token")}},
		{name: "unknown key", content: "servr: x\n", perm: 0o644, wantErr: "unknown key servr"},
		{name: "not YAML", content: "server: [\n", perm: 0o644, wantErr: "line 1"},
		{name: "a list", content: "- server\n", perm: 0o644, wantErr: "cannot unmarshal"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests,
			struct {
				name    string
				content string
				perm    os.FileMode
				want    fileConfig
				wantErr string
			}{name: "token readable by group", content: "token: epk_SECRET\n", perm: 0o640, wantErr: "chmod 600"},
			struct {
				name    string
				content string
				perm    os.FileMode
				want    fileConfig
				wantErr string
			}{name: "token readable by others", content: "token: epk_SECRET\n", perm: 0o604, wantErr: "other users may read it (mode 0604)"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "_")+".yaml", tt.content, tt.perm)
			got, err := loadConfig(path, true)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path)):
				t.Fatalf("err %v; want one naming %s and saying %q", err, path, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "SECRET"):
				t.Errorf("err %v shows the token", err)
			case err == nil && got != tt.want:
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("missing default file", func(t *testing.T) {
		if _, err := loadConfig(filepath.Join(dir, "none.yaml"), false); err != nil {
			t.Errorf("a missing default config file: %v", err)
		}
	})
	t.Run("missing named file", func(t *testing.T) {
		if _, err := loadConfig(filepath.Join(dir, "none.yaml"), true); err == nil || !strings.Contains(err.Error(), "none.yaml") {
			t.Errorf("a missing named config file: %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := loadConfig(dir, true); err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("a directory: %v", err)
		}
	})
}

func TestYAMLProblemHidesValues(t *testing.T) {
	err := errors.New("yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `epk_SEC...` into int\n  line 2: field tokn not found in type command.fileConfig")
	got := yamlProblem(err)
	want := "line 1: cannot unmarshal !!str a value into int; line 2: unknown key tokn (the keys are " + configKeys + ")"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want, wantErr string
	}{
		{name: "one line", content: "epk_abc\n", want: "epk_abc"},
		{name: "CRLF and spaces", content: "  epk_abc \r\n", want: "epk_abc"},
		{name: "no newline", content: "epk_abc", want: "epk_abc"},
		{name: "empty", content: "\n\n", wantErr: "is empty"},
		{name: "two lines", content: "epk_abc\nepk_def\n", wantErr: "more than one line"},
		{name: "too long", content: strings.Repeat("x", maxTokenFile+1), wantErr: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "_"), tt.content, 0o600)
			got, err := readTokenFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err %v; want one naming the file and saying %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "epk_") {
					t.Errorf("err %v shows the token", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := readTokenFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}
