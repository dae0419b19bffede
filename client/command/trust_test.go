package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/trust"
)

// trustDir is a directory with the files of a trust workflow: synthetic
// issuer keys of three members, and paths for the rest.
type trustDir struct {
	dir                        string
	registryKey, registryPub   string
	source, out                string
	shangyu, shangyuNext       string
	kunshan, putuo, notAKey    string
	shangyuKID, shangyuNextKID string
	kunshanKID, putuoKID       string
}

func newTrustDir(t *testing.T) *trustDir {
	t.Helper()
	dir := t.TempDir()
	d := &trustDir{
		dir:         dir,
		registryKey: filepath.Join(dir, "registry.key"),
		registryPub: filepath.Join(dir, "registry.pem"),
		source:      filepath.Join(dir, "members.yaml"),
		out:         filepath.Join(dir, "trustlist.cose"),
		notAKey:     filepath.Join(dir, "not-a-key.pem"),
	}
	write := func(name, pemText string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(pemText), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	kid := func(pub any) string {
		k, err := credential.KID(pub)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	d.shangyu = write("330604.pem", pemOf(t, goldenShangyuKey.Public()))
	d.shangyuNext = write("330604-next.pem", pemOf(t, goldenShangyuNext.Public()))
	d.kunshan = write("320583.pem", pemOf(t, goldenKunshanKey.Public()))
	d.putuo = write("310107.pem", goldenPutuoPEM)
	write("not-a-key.pem", "not a key\n")
	d.shangyuKID, d.shangyuNextKID = kid(goldenShangyuKey.Public()), kid(goldenShangyuNext.Public())
	d.kunshanKID = kid(goldenKunshanKey.Public())
	p, err := credential.ParsePublicKeyPEM([]byte(goldenPutuoPEM))
	if err != nil {
		t.Fatal(err)
	}
	d.putuoKID = kid(p)
	return d
}

// run runs permitctl trust with args and fails the test unless the exit
// status is want.
func (d *trustDir) run(t *testing.T, want int, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, nil, append([]string{"trust"}, args...)...)
	if r.code != want {
		t.Fatalf("permitctl trust %s: exit status %d, want %d (err %v)\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), r.code, want, r.err, r.stdout, r.stderr)
	}
	return r
}

// verifyOut verifies the signed list with the registry's public key.
func (d *trustDir) verifyOut(t *testing.T) *trust.List {
	t.Helper()
	pub, err := trust.LoadRegistryPublic(d.registryPub)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(d.out)
	if err != nil {
		t.Fatal(err)
	}
	l, err := trust.Verify(data, pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// setUp makes the registry key pair and a source with Shangyu and Kunshan.
func (d *trustDir) setUp(t *testing.T) {
	t.Helper()
	d.run(t, 0, "init-registry", "--key", d.registryKey, "--pub", d.registryPub)
	d.run(t, 0, "add", "330604", "--source", d.source, "--endpoint", "permitd.330604.example:7700",
		"--issuer-key", d.shangyu, "--not-before", "2026-01-01", "--not-after", "2036-01-01")
	d.run(t, 0, "add", "320583", "--source", d.source, "--name", "昆山市", "--endpoint", "10.20.0.7:7700",
		"--issuer-key", d.kunshan, "--not-before", "2026-01-01T00:00:00+08:00", "--not-after", "2036-01-01T00:00:00+08:00")
}

func TestTrustWorkflow(t *testing.T) {
	d := newTrustDir(t)
	r := d.run(t, 0, "init-registry", "--key", d.registryKey, "--pub", d.registryPub)
	if !strings.Contains(r.stdout, "Registry key  ") || !strings.Contains(r.stdout, "EdDSA") {
		t.Errorf("init-registry printed:\n%s", r.stdout)
	}
	for path, mode := range map[string]os.FileMode{d.registryKey: 0o600, d.registryPub: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^mode != 0 {
			t.Errorf("%s has mode %04o, want at most %04o", path, got, mode)
		}
	}

	r = d.run(t, 0, "add", "330604", "--source", d.source, "--endpoint", "permitd.330604.example:7700",
		"--issuer-key", d.shangyu, "--not-before", "2026-01-01", "--not-after", "2036-01-01")
	for _, w := range []string{"浙江省绍兴市上虞区", "330000", d.shangyuKID, "2026-01-01 00:00:00 CST", "active"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("add printed no %q:\n%s", w, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "(new file)") {
		t.Errorf("add did not say it made the source:\n%s", r.stderr)
	}
	d.run(t, 0, "add", "320583", "--source", d.source, "--name", "昆山市", "--endpoint", "10.20.0.7:7700",
		"--issuer-key", d.kunshan, "--not-before", "2026-01-01", "--not-after", "2036-01-01")
	r = d.run(t, 0, "add", "310107", "--source", d.source, "--endpoint", "[2001:db8::7]:7700", "--issuer-key", d.putuo, "-o", "json")
	var added trustMemberResult
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil {
		t.Fatalf("add -o json: %v\n%s", err, r.stdout)
	}
	if k := added.Member.Keys[0]; added.Action != "added" || k.Algorithm != "ES256" || k.KID != d.putuoKID ||
		!k.NotAfter.Equal(k.NotBefore.AddDate(2, 0, 0)) || time.Since(k.NotBefore) > time.Minute {
		t.Errorf("add -o json = %+v", added)
	}

	// Rotate Shangyu's key a week from now, with a 48-hour overlap.
	r = d.run(t, 0, "rotate", "330604", "--source", d.source, "--issuer-key", d.shangyuNext, "--not-before", "+168h", "--overlap", "48h")
	if !strings.Contains(r.stdout, "pending") || strings.Contains(r.stderr, "may sign at once") {
		t.Errorf("rotate printed:\n%s\n%s", r.stdout, r.stderr)
	}

	r = d.run(t, 0, "sign", "--registry-key", d.registryKey, "--source", d.source, "--out", d.out)
	if !strings.Contains(r.stdout, "Sequence      1") || !strings.Contains(r.stderr, "Publish "+d.out) {
		t.Errorf("sign printed:\n%s\n%s", r.stdout, r.stderr)
	}
	l := d.verifyOut(t)
	if l.Sequence != 1 || len(l.Members) != 3 || l.ExpiresAt.Sub(l.IssuedAt) != 720*time.Hour {
		t.Errorf("signed list %d, %d members, valid %v", l.Sequence, len(l.Members), l.ExpiresAt.Sub(l.IssuedAt))
	}
	m, _ := l.Member("330604")
	if len(m.Keys) != 2 || m.Keys[0].KID != d.shangyuKID || m.Keys[1].KID != d.shangyuNextKID {
		t.Fatalf("Shangyu's keys: %+v", m.Keys)
	}
	if got := m.Keys[0].NotAfter.Sub(m.Keys[1].NotBefore); got != 48*time.Hour {
		t.Errorf("the old key ends %v after the new one starts, want 48h", got)
	}
	if _, err := l.Key("330604", d.shangyuNextKID, time.Now()); err == nil {
		t.Error("the new key is valid before its not-before")
	}
	if _, err := l.Key("330604", d.shangyuKID, time.Now()); err != nil {
		t.Error(err)
	}
	if fi, err := os.Stat(d.out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("signed list: %v, %v", fi, err)
	}

	// Show it, as a table and as JSON.
	r = d.run(t, 0, "show", d.out, "--registry-pub", d.registryPub)
	for _, w := range []string{"Sequence      1", "(signature verified)", "上海市普陀区", "[2001:db8::7]:7700", d.putuoKID, "ES256", "pending"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("show printed no %q:\n%s", w, r.stdout)
		}
	}
	r = d.run(t, 0, "show", d.out, "--registry-pub", d.registryPub, "-o", "json")
	var shown trustListResult
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatalf("show -o json: %v\n%s", err, r.stdout)
	}
	if shown.Sequence != 1 || len(shown.Members) != 3 || shown.Members[0].Division != "310107" ||
		!strings.HasPrefix(shown.Members[0].Keys[0].PublicKeyPEM, "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("show -o json = %+v", shown)
	}

	// Remove Kunshan and sign again: the sequence goes up.
	d.run(t, 0, "remove", "320583", "--source", d.source)
	r = d.run(t, 0, "sign", "--registry-key", d.registryKey, "--source", d.source, "--out", d.out, "--valid-for", "48h", "-o", "json")
	var signed trustSignedResult
	if err := json.Unmarshal([]byte(r.stdout), &signed); err != nil {
		t.Fatalf("sign -o json: %v\n%s", err, r.stdout)
	}
	if signed.Sequence != 2 || signed.Members != 2 || signed.Keys != 3 || signed.ExpiresAt.Sub(signed.IssuedAt) != 48*time.Hour {
		t.Errorf("sign -o json = %+v", signed)
	}
	if l := d.verifyOut(t); l.Sequence != 2 || len(l.Members) != 2 {
		t.Errorf("list %d with %d members", l.Sequence, len(l.Members))
	}
	src, _, err := loadTrustSource(d.source, false)
	if err != nil || src.Sequence != 2 {
		t.Errorf("source sequence %v, %v", src, err)
	}

	// A node holding list 2 takes list 3, not list 2 again with changes.
	pub, err := trust.LoadRegistryPublic(d.registryPub)
	if err != nil {
		t.Fatal(err)
	}
	h, err := trust.NewHolder(trust.HolderConfig{Registry: pub})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LoadFile(d.out); err != nil {
		t.Fatal(err)
	}
	d.run(t, 0, "remove", "330604", "--kid", d.shangyuKID, "--source", d.source)
	r = d.run(t, 0, "sign", "--registry-key", d.registryKey, "--source", d.source, "--out", d.out)
	if !strings.Contains(r.stderr, "Member 330604 has no key that may sign now") {
		t.Errorf("sign did not warn of a member without a usable key:\n%s", r.stderr)
	}
	if err := h.LoadFile(d.out); err != nil || h.Current().Sequence != 3 {
		t.Errorf("loading list 3: %v", err)
	}
}

func TestTrustRefusals(t *testing.T) {
	d := newTrustDir(t)
	d.setUp(t)
	d.run(t, 0, "sign", "--registry-key", d.registryKey, "--source", d.source, "--out", d.out)
	good, err := os.ReadFile(d.out)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(d.dir, "tampered.cose")
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(tampered, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	otherPub := filepath.Join(d.dir, "other.pem")
	if err := os.WriteFile(otherPub, []byte(pemOf(t, goldenRegistryKey.Public())), 0o644); err != nil {
		t.Fatal(err)
	}
	looseKey := filepath.Join(d.dir, "loose.key")
	keyData, err := os.ReadFile(d.registryKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(looseKey, keyData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(looseKey, 0o644); err != nil {
		t.Fatal(err)
	}
	editedSource := func(name, from, to string) string {
		data, err := os.ReadFile(d.source)
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(data), from, to, 1)
		if edited == string(data) {
			t.Fatalf("%q is not in the source", from)
		}
		path := filepath.Join(d.dir, name)
		if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	wrongKID := editedSource("wrong-kid.yaml", "kid: "+d.shangyuKID, "kid: 0000000000000000")
	unknownField := editedSource("unknown-field.yaml", "endpoint:", "endpiont:")
	badEndpoint := editedSource("bad-endpoint.yaml", "10.20.0.7:7700", "10.20.0.7")
	outsideDelta := editedSource("outside.yaml", `division: "320583"`, `division: "110101"`)
	emptyWindow := editedSource("empty-window.yaml", "not_after: 2036-01-01T00:00:00+08:00", "not_after: 2025-01-01T00:00:00+08:00")

	signArgs := func(source string) []string {
		return []string{"sign", "--registry-key", d.registryKey, "--source", source, "--out", filepath.Join(d.dir, "x.cose")}
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"init over an existing key", []string{"init-registry", "--key", d.registryKey, "--pub", filepath.Join(d.dir, "new.pem")},
			exitFailure, "already exists"},
		{"init without --pub", []string{"init-registry", "--key", filepath.Join(d.dir, "new.key")}, exitUsage, "missing required flag --pub"},
		{"init, same file", []string{"init-registry", "--key", "x", "--pub", "x"}, exitUsage, "same file"},
		{"add unknown division", []string{"add", "999999", "--source", d.source, "--endpoint", "a:1", "--issuer-key", d.putuo},
			exitUsage, "not in the table"},
		{"add a prefecture", []string{"add", "330600", "--source", d.source, "--endpoint", "a:1", "--issuer-key", d.putuo},
			exitUsage, "is a prefecture"},
		{"add with a URL as endpoint", []string{"add", "310107", "--source", d.source, "--endpoint", "https://a.example:1", "--issuer-key", d.putuo},
			exitUsage, "not host:port"},
		{"add without --issuer-key", []string{"add", "310107", "--source", d.source, "--endpoint", "a:1"},
			exitUsage, "missing required flag --issuer-key"},
		{"add without flags", []string{"add", "310107", "--source", d.source},
			exitUsage, "missing required flags --endpoint, --issuer-key"},
		{"add a file that is not a key", []string{"add", "310107", "--source", d.source, "--endpoint", "a:1", "--issuer-key", d.notAKey},
			exitFailure, "no PEM block"},
		{"add a member twice", []string{"add", "330604", "--source", d.source, "--endpoint", "a:1", "--issuer-key", d.putuo},
			exitFailure, "330604 is already a member"},
		{"add another member's key", []string{"add", "310107", "--source", d.source, "--endpoint", "a:1", "--issuer-key", d.kunshan},
			exitFailure, "already listed for 320583"},
		{"add with a control character in the name", []string{"add", "310107", "--source", d.source, "--name", "普陀\x07",
			"--endpoint", "a:1", "--issuer-key", d.putuo}, exitFailure, "control character"},
		{"add with an empty window", []string{"add", "310107", "--source", d.source, "--endpoint", "a:1", "--issuer-key", d.putuo,
			"--not-before", "2027-01-01", "--not-after", "2026-01-01"}, exitUsage, "--not-after must be after --not-before"},
		{"add with a bad time", []string{"add", "310107", "--source", d.source, "--endpoint", "a:1", "--issuer-key", d.putuo,
			"--not-before", "tomorrow"}, exitUsage, "is not a time"},
		{"remove a non-member", []string{"remove", "310107", "--source", d.source}, exitFailure, "310107 is not a member"},
		{"remove an unknown key", []string{"remove", "330604", "--source", d.source, "--kid", "0000000000000000"},
			exitFailure, "has no key 0000000000000000"},
		{"remove the only key", []string{"remove", "330604", "--source", d.source, "--kid", d.shangyuKID},
			exitFailure, "the only key of 330604"},
		{"remove from a missing source", []string{"remove", "330604", "--source", filepath.Join(d.dir, "none.yaml")},
			exitFailure, "no such file"},
		{"rotate without --not-before", []string{"rotate", "330604", "--source", d.source, "--issuer-key", d.shangyuNext},
			exitUsage, "missing required flag --not-before"},
		{"rotate a non-member", []string{"rotate", "310107", "--source", d.source, "--issuer-key", d.shangyuNext, "--not-before", "+1h"},
			exitFailure, "310107 is not a member"},
		{"rotate to the same key", []string{"rotate", "330604", "--source", d.source, "--issuer-key", d.shangyu, "--not-before", "+1h"},
			exitFailure, "already listed for 330604"},
		{"rotate with a negative overlap", []string{"rotate", "330604", "--source", d.source, "--issuer-key", d.shangyuNext,
			"--not-before", "+1h", "--overlap", "-1h"}, exitUsage, "--overlap must not be negative"},
		{"sign without --registry-key", []string{"sign", "--source", d.source}, exitUsage, "missing required flag --registry-key"},
		{"sign with a key others may read", []string{"sign", "--registry-key", looseKey, "--source", d.source},
			exitFailure, "chmod 600"},
		{"sign with the public key", []string{"sign", "--registry-key", d.registryPub, "--source", d.source},
			exitFailure, "lets others at it"},
		{"sign for no time", append(signArgs(d.source), "--valid-for", "0s"), exitUsage, "--valid-for must be at least 1s"},
		{"sign a kid that does not match", signArgs(wrongKID), exitFailure, "kid 0000000000000000 does not match the public key"},
		{"sign a misspelt field", signArgs(unknownField), exitFailure, "endpiont"},
		{"sign a bad endpoint", signArgs(badEndpoint), exitFailure, `endpoint "10.20.0.7" is not host:port`},
		{"sign a division outside the Delta", signArgs(outsideDelta), exitFailure, "not in a province of the Yangtze River Delta"},
		{"sign an empty key window", signArgs(emptyWindow), exitFailure, "is not after not_before"},
		{"show without --registry-pub", []string{"show", d.out}, exitUsage, "missing required flag --registry-pub"},
		{"show with another registry key", []string{"show", d.out, "--registry-pub", otherPub}, exitFailure, "not signed by the registry key"},
		{"show a tampered list", []string{"show", tampered, "--registry-pub", d.registryPub}, exitFailure, "does not verify"},
		{"show the source", []string{"show", d.source, "--registry-pub", d.registryPub}, exitFailure, "not a signed trust list"},
		{"show an expired list", []string{"show", d.out, "--registry-pub", d.registryPub, "--at", "+721h"}, exitFailure, "has expired"},
		{"show without a file", []string{"show", "--registry-pub", d.registryPub}, exitUsage, "missing FILE"},
		{"unknown subcommand", []string{"sing"}, exitUsage, "did you mean sign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := os.ReadFile(d.source)
			if err != nil {
				t.Fatal(err)
			}
			r := d.run(t, tt.code, tt.args...)
			if !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", r.err, tt.want)
			}
			if after, _ := os.ReadFile(d.source); string(after) != string(before) {
				t.Error("a refused command changed the source")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(d.dir, "x.cose")); err == nil {
		t.Error("a refused sign wrote a list")
	}
	// The signed list is untouched, and shows as of an earlier time too.
	if after, _ := os.ReadFile(d.out); string(after) != string(good) {
		t.Error("the signed list changed")
	}
	d.run(t, 0, "show", d.out, "--registry-pub", d.registryPub, "--at", "+1h")
}

// TestTrustIgnoresConnectionConfig runs the trust commands with a config
// file that would stop every command talking to a node: they make no
// connection, so it must not stop them.
func TestTrustIgnoresConnectionConfig(t *testing.T) {
	d := newTrustDir(t)
	t.Setenv("PERMITCTL_CONFIG", filepath.Join(d.dir, "missing.yaml"))
	if r := runCLI(t, nil, "whoami"); r.code != exitFailure {
		t.Fatalf("whoami with a missing config file: exit status %d, %v", r.code, r.err)
	}
	d.setUp(t)
	d.run(t, 0, "sign", "--registry-key", d.registryKey, "--source", d.source, "--out", d.out, "-o", "json")
	d.run(t, 0, "show", d.out, "--registry-pub", d.registryPub)
}

func TestTrustSignHandEditedSource(t *testing.T) {
	d := newTrustDir(t)
	d.run(t, 0, "init-registry", "--key", d.registryKey, "--pub", d.registryPub)
	// Unquoted codes, no kid or algorithm, a date-only style timestamp:
	// what someone typing the file might write.
	src := `sequence: 41
members:
  - division: 330604
    name: 上虞区
    province: 330000
    endpoint: permitd.330604.example:7700
    keys:
      - not_before: 2026-01-01T00:00:00+08:00
        not_after: 2036-01-01T00:00:00+08:00
        public_key: |
` + indent(pemOf(t, goldenShangyuKey.Public()), "          ")
	if err := os.WriteFile(d.source, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	d.run(t, 0, "sign", "--registry-key", d.registryKey, "--source", d.source, "--out", d.out)
	l := d.verifyOut(t)
	m, ok := l.Member("330604")
	if l.Sequence != 42 || !ok || m.Name != "上虞区" || m.Keys[0].KID != d.shangyuKID || m.Keys[0].Algorithm != "EdDSA" {
		t.Errorf("list %d: %+v", l.Sequence, m)
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	return prefix + strings.Join(lines, prefix) + "\n"
}

func TestParseTrustTime(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 30, 15, 500, chinaStandardTime)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"now", time.Date(2026, 6, 1, 9, 30, 15, 0, chinaStandardTime)},
		{"+168h", time.Date(2026, 6, 8, 9, 30, 15, 0, chinaStandardTime)},
		{"2027-01-01", time.Date(2027, 1, 1, 0, 0, 0, 0, chinaStandardTime)},
		{"2027-01-01T00:00:00Z", time.Date(2027, 1, 1, 8, 0, 0, 0, chinaStandardTime)},
		{" 2027-01-01T08:00:00.9+08:00 ", time.Date(2027, 1, 1, 8, 0, 0, 0, chinaStandardTime)},
	}
	for _, tt := range tests {
		got, err := parseTrustTime(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTrustTime(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "+-1h", "+1y", "2027-13-01", "01/01/2027"} {
		if got, err := parseTrustTime(bad, now); err == nil {
			t.Errorf("parseTrustTime(%q) = %v", bad, got)
		}
	}
}
