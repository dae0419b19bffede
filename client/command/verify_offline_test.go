package command

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
)

// signTestCredential signs synthetic claims expiring at exp with a new
// Ed25519 key and returns the text and the path of the public key's PEM.
func signTestCredential(t *testing.T, exp time.Time) (text, keyFile string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := credential.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	text, err = signer.Sign(credential.Claims{
		Issuer:    "330604",
		PermitID:  "330604-4F7K2M9QXW3B7",
		IssuedAt:  exp.AddDate(-1, 0, 0),
		NotBefore: exp.AddDate(-1, 0, 0),
		Expiry:    exp,
		Permit: credential.PermitClaims{
			HolderName:         "测试者甲",
			MaskedCitizenID:    "330602********1231",
			ResidenceStartDate: "2025-03-10",
			ResidenceYears:     1,
			NextEndorsementDue: exp.In(chinaStandardTime).Format(time.DateOnly),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pem, err := credential.MarshalPublicKeyPEM(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(t.TempDir(), "issuer.pem")
	if err := os.WriteFile(keyFile, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return text, keyFile
}

func TestVerifyOffline(t *testing.T) {
	future := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	text, keyFile := signTestCredential(t, future)
	_, otherKey := signTestCredential(t, future)
	expired, expiredKey := signTestCredential(t, time.Now().Add(-time.Hour).Truncate(time.Second))
	tampered := text[:len(text)-3] + "AAA"
	if tampered == text {
		tampered = text[:len(text)-3] + "BBB"
	}
	// No --server points anywhere: offline verification must not need one.
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		want     []string
	}{
		{name: "authentic", args: []string{"--key", keyFile, text}, wantCode: 0,
			want: []string{"STATUS UNKNOWN (offline)", "✓ signature", "✓ time-window", "测试者甲", "Status not checked"}},
		{name: "authentic from stdin", args: []string{"--key", keyFile, "-"}, stdin: text + "\n", wantCode: 0,
			want: []string{"STATUS UNKNOWN (offline)"}},
		{name: "authentic as JSON", args: []string{"--key", keyFile, "-o", "json", text}, wantCode: 0,
			want: []string{`"verdict": "VERDICT_STATUS_UNKNOWN"`, `"check": "CHECK_TIME_WINDOW"`}},
		{name: "another issuer's key", args: []string{"--key", otherKey, text}, wantCode: exitNotValid,
			want: []string{"NOT VALID (offline)", "✗ issuer"}},
		{name: "expired", args: []string{"--key", expiredKey, expired}, wantCode: exitNotValid,
			want: []string{"NOT VALID (offline)", "✗ time-window", "expired"}},
		{name: "not a credential", args: []string{"--key", keyFile, "YRD1:garbage"}, wantCode: exitNotValid,
			want: []string{"✗ format"}},
		{name: "tampered", args: []string{"--key", keyFile, tampered}, wantCode: exitNotValid,
			want: []string{"NOT VALID (offline)", "✗"}},
		{name: "missing key file", args: []string{"--key", filepath.Join(t.TempDir(), "none.pem"), text}, wantCode: exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--server", closedAddress(t), "verify", "--offline"}, tt.args...)
			r := runCLI(t, strings.NewReader(tt.stdin), args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit status %d, want %d (err %v)\n%s", r.code, tt.wantCode, r.err, r.stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output lacks %q:\n%s%s", w, r.stdout, r.stderr)
				}
			}
		})
	}
}
