package command

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

func TestParsePermitStatus(t *testing.T) {
	tests := []struct {
		in      string
		want    epermitv1.PermitStatus
		wantErr bool
	}{
		{in: "active", want: epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE},
		{in: "suspended", want: epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED},
		{in: "cancelled", want: epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED},
		{in: "confiscated", want: epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED},
		{in: "superseded", want: epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED},
		{in: "expired", want: epermitv1.PermitStatus_PERMIT_STATUS_EXPIRED},
		{in: "ACTIVE", want: epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE},
		{in: " expired ", want: epermitv1.PermitStatus_PERMIT_STATUS_EXPIRED},
		{in: "unspecified", wantErr: true},
		{in: "canceled", wantErr: true},
		{in: "PERMIT_STATUS_ACTIVE", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseEnum[epermitv1.PermitStatus](tt.in)
			if tt.wantErr {
				want := "must be one of active, suspended, cancelled, confiscated, superseded, expired, pending"
				if err == nil || err.Error() != want {
					t.Fatalf("parseEnum(%q) = %v, %v; want error %q", tt.in, got, err, want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseEnum(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseCancelReason(t *testing.T) {
	tests := []struct {
		in      string
		want    epermitv1.CancelReason
		wantErr bool
	}{
		{in: "false-materials", want: epermitv1.CancelReason_CANCEL_REASON_FALSE_MATERIALS},
		{in: "conditions-not-met", want: epermitv1.CancelReason_CANCEL_REASON_CONDITIONS_NOT_MET},
		{in: "local-hukou", want: epermitv1.CancelReason_CANCEL_REASON_LOCAL_HUKOU},
		{in: "death", want: epermitv1.CancelReason_CANCEL_REASON_DEATH},
		{in: "expired", want: epermitv1.CancelReason_CANCEL_REASON_EXPIRED},
		{in: "other", want: epermitv1.CancelReason_CANCEL_REASON_OTHER},
		{in: "forged", want: epermitv1.CancelReason_CANCEL_REASON_FORGED},
		{in: "fraudulently-obtained", want: epermitv1.CancelReason_CANCEL_REASON_FRAUDULENTLY_OBTAINED},
		{in: "local_hukou", want: epermitv1.CancelReason_CANCEL_REASON_LOCAL_HUKOU},
		{in: "Fraudulently-Obtained", want: epermitv1.CancelReason_CANCEL_REASON_FRAUDULENTLY_OBTAINED},
		{in: "fraud", wantErr: true},
		{in: "localhukou", wantErr: true},
		{in: "unspecified", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseEnum[epermitv1.CancelReason](tt.in)
			if tt.wantErr {
				want := "must be one of false-materials, conditions-not-met, local-hukou, death, expired, other, forged, fraudulently-obtained, withdrawn"
				if err == nil || err.Error() != want {
					t.Fatalf("parseEnum(%q) = %v, %v; want error %q", tt.in, got, err, want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseEnum(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestEnumWord(t *testing.T) {
	tests := []struct {
		in   protoreflect.Enum
		word string
	}{
		{epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE, "active"},
		{epermitv1.CancelReason_CANCEL_REASON_FRAUDULENTLY_OBTAINED, "fraudulently-obtained"},
		{epermitv1.Check_CHECK_TIME_WINDOW, "time-window"},
		{epermitv1.Sex_SEX_FEMALE, "female"},
		{epermitv1.Verdict_VERDICT_STATUS_UNKNOWN, "status-unknown"},
		{epermitv1.PermitStatus(42), "42"},
	}
	for _, tt := range tests {
		if got := enumWord(tt.in); got != tt.word {
			t.Errorf("enumWord(%v) = %q, want %q", tt.in, got, tt.word)
		}
	}
	if got, want := verdictWords(epermitv1.Verdict_VERDICT_NOT_VALID), "NOT VALID"; got != want {
		t.Errorf("verdictWords(NOT_VALID) = %q, want %q", got, want)
	}
}

// TestEnumFlagsOnCommandLine checks that a bad enum value is a usage error
// (exit status 2) listing the allowed values, and a good one reaches the
// options.
func TestEnumFlagsOnCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		want []string // in the error
	}{
		{[]string{"list", "--status", "revoked"}, enumWords[epermitv1.PermitStatus]()},
		{[]string{"cancel", "330604-4F7K2M9QXW3B7", "--reason", "moved-away", "--yes"}, enumWords[epermitv1.CancelReason]()},
		{[]string{"show", "330604-4F7K2M9QXW3B7", "-o", "yaml"}, []string{"table", "json"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit status %d, want %d (err %v)", r.code, exitUsage, r.err)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.err.Error(), w) {
					t.Errorf("error %q does not list %q", r.err, w)
				}
			}
		})
	}
	var status epermitv1.PermitStatus
	f := enumFlag[epermitv1.PermitStatus]{target: &status, typ: "status"}
	if err := f.Set("superseded"); err != nil || status != epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED || f.String() != "superseded" {
		t.Errorf("Set(superseded): err %v, value %v, String %q", err, status, f.String())
	}
	if !slices.Equal(enumWords[epermitv1.Verdict](), []string{"valid", "not-valid", "status-unknown"}) {
		t.Errorf("enumWords[Verdict]() = %q", enumWords[epermitv1.Verdict]())
	}
}
