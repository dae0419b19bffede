package node

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "permitd.yaml")
	if err := os.WriteFile(file, []byte(`
listen: 127.0.0.1:9001
division: "310107"
data: from-file
rules:
  endorsement_window_months: 2
  card_validity_years: 2
  cancel_reasons: [death, Local_Hukou]
log:
  format: json
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PERMITD_CONFIG": file, "PERMITD_DATA": "from-env", "PERMITD_LISTEN": "127.0.0.1:9002"}
	cfg, err := Load([]string{"--listen", "127.0.0.1:9003"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9003" || cfg.Data != "from-env" || cfg.Division != "310107" ||
		cfg.Rules.EndorsementWindowMonths != 2 || cfg.Rules.CardValidityYears != 2 || cfg.Log.Format != "json" ||
		cfg.Log.Level != "info" {
		t.Fatalf("config = %+v", cfg)
	}
	reasons, err := cfg.cancelReasons()
	if err != nil || len(reasons) != 2 {
		t.Fatalf("cancel reasons = %v, %v", reasons, err)
	}
	if got := cfg.authority(); got != "上海市公安局普陀分局" {
		t.Fatalf("authority = %q", got)
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7700" {
		t.Fatalf("defaults = %+v", cfg)
	}
	if cfg.Division != "330604" || cfg.Data != "data" || cfg.authority() != "绍兴市公安局上虞区分局" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown division", []string{"--division", "999999"}, "not a Delta division"},
		{"prefecture division", []string{"--division", "330600"}, "not county-level"},
		{"unknown file key", []string{"--config", write("a.yaml", "listne: x\n")}, "listne"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, "no such file"},
		{"bad window", []string{"--config", write("b.yaml", "rules:\n  endorsement_window_months: 0\n")}, "endorsement_window_months"},
		{"bad reason", []string{"--config", write("c.yaml", "rules:\n  cancel_reasons: [bored]\n")}, "bored"},
		{"deadline over 30 days", []string{"--config", write("d.yaml", "applications:\n  deadline_days: 31\n")}, "applications.deadline_days 31 is out of range 1..30"},
		{"deadline of no days", []string{"--config", write("e.yaml", "applications:\n  deadline_days: 0\n")}, "applications.deadline_days 0 is out of range 1..30"},
		{"material without a name", []string{"--config", write("f.yaml", "applications:\n  required_materials:\n    - code: id_card\n      zh: 居民身份证\n")}, "needs both its Chinese (zh) and English (en) name"},
		{"material listed twice", []string{"--config", write("g.yaml", "applications:\n  required_materials:\n    - {code: photo, zh: 照片, en: photo}\n    - {code: photo, zh: 照片, en: photo}\n")}, `"photo" is listed twice`},
		{"nested choice", []string{"--config", write("h.yaml", "applications:\n  required_materials:\n    - code: proof\n      zh: 证明\n      en: proof\n      any_of:\n        - {code: a, zh: 甲, en: a, any_of: [{code: b, zh: 乙, en: b}]}\n        - {code: c, zh: 丙, en: c}\n")}, "has a choice of its own"},
		{"lease within a timeout", []string{"--config", write("i.yaml", "outbox:\n  lease: 8s\ndepartments:\n  hrss: {endpoint: \"127.0.0.1:7800\", timeout: 10s}\n")}, "outbox.lease 8s must be longer than the longest department timeout, 10s"},
		{"negative lease", []string{"--config", write("j.yaml", "outbox:\n  lease: -1s\n")}, "outbox.lease -1s"},
		{"bad log level", []string{"--log-level", "loud"}, "log level"},
		{"stray argument", []string{"serve"}, "unexpected argument"},
		{"unknown flag", []string{"--port", "1"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestApplicationsConfig: the defaults follow the regulations, and a city
// may extend the deadline to 30 days and list its own materials.
func TestApplicationsConfig(t *testing.T) {
	cfg, err := Load(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := cfg.Applications.requirements()
	if err != nil || cfg.Applications.DeadlineDays != 15 || len(reqs) != 4 || len(reqs[3].AnyOf) != 3 {
		t.Fatalf("default applications config: %d days, %+v, %v", cfg.Applications.DeadlineDays, reqs, err)
	}
	file := filepath.Join(t.TempDir(), "permitd.yaml")
	if err := os.WriteFile(file, []byte(`
applications:
  deadline_days: 30
  required_materials:
    - {code: id_card, zh: 居民身份证, en: resident identity card}
    - code: condition_proof
      zh: 就业或就读证明之一
      en: proof of employment or study
      any_of:
        - {code: employment_proof, zh: 就业证明, en: proof of employment}
        - {code: study_proof, zh: 就读证明, en: proof of study}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load([]string{"--config", file}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err = cfg.Applications.requirements()
	if err != nil || cfg.Applications.DeadlineDays != 30 || len(reqs) != 2 || reqs[1].AnyOf[1].GetCode() != "study_proof" {
		t.Fatalf("configured applications: %d days, %+v, %v", cfg.Applications.DeadlineDays, reqs, err)
	}
}

func TestCheckPlaintext(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:7700": true, "[::1]:7700": true, "localhost:7700": true, "127.0.0.2:1": true,
		"0.0.0.0:7700": false, ":7700": false, "10.1.2.3:7700": false, "example.org:7700": false,
	} {
		if err := checkPlaintext(addr); (err == nil) != ok {
			t.Errorf("checkPlaintext(%q) = %v", addr, err)
		}
	}
}
