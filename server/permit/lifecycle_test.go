package permit

import (
	"testing"
	"time"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

func TestStatusAndSchedule(t *testing.T) {
	const (
		active    = epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
		suspended = epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED
		cancelled = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED
		expired   = epermitv1.PermitStatus_PERMIT_STATUS_EXPIRED
	)
	rules := DefaultRules()
	tests := []struct {
		name        string
		permit      *epermitv1.Permit
		on          string
		wantStatus  epermitv1.PermitStatus
		wantDue     string
		wantWindow  string
		wantYears   int
		wantMonths  int
		customRules *Rules
	}{
		{
			name:       "new permit is active, first anniversary due",
			permit:     record("2026-03-15", "2026-03-15", active),
			on:         "2026-03-15",
			wantStatus: active, wantDue: "2027-03-15", wantWindow: "2027-02-15",
		},
		{
			name:       "day before the first anniversary without endorsement",
			permit:     record("2026-03-15", "2026-03-15", active),
			on:         "2027-03-14",
			wantStatus: active, wantDue: "2027-03-15", wantYears: 0, wantMonths: 11,
		},
		{
			name:       "anniversary passes without endorsement: suspended",
			permit:     record("2026-03-15", "2026-03-15", active),
			on:         "2027-03-15",
			wantStatus: suspended, wantDue: "2027-03-15", wantYears: 1, wantMonths: 12,
		},
		{
			name:       "years stop counting at the missed anniversary",
			permit:     record("2026-03-15", "2026-03-15", active),
			on:         "2029-06-01",
			wantStatus: suspended, wantDue: "2027-03-15", wantYears: 1, wantMonths: 12,
		},
		{
			name: "on-time endorsement moves the due date a year",
			permit: record("2026-03-15", "2026-03-15", active,
				&epermitv1.Endorsement{Date: "2027-03-01", DueDate: "2027-03-15"}),
			on:         "2027-03-20",
			wantStatus: active, wantDue: "2028-03-15", wantWindow: "2028-02-15", wantYears: 1, wantMonths: 12,
		},
		{
			name: "late endorsement restarts the count",
			permit: record("2026-03-15", "2027-05-10", active,
				&epermitv1.Endorsement{Date: "2027-05-10", DueDate: "2027-03-15", Late: true}),
			on:         "2027-05-10",
			wantStatus: active, wantDue: "2028-05-10", wantWindow: "2028-04-10", wantYears: 0,
		},
		{
			name:       "residence began before the issue date: first due is the next anniversary after issue",
			permit:     record("2026-11-28", "2024-03-01", active),
			on:         "2026-11-28",
			wantStatus: active, wantDue: "2027-03-01", wantWindow: "2027-02-01", wantYears: 2, wantMonths: 32,
		},
		{
			name:       "suspended by hand stays suspended before the due date",
			permit:     suspendedByHand(record("2026-03-15", "2026-03-15", active)),
			on:         "2026-06-01",
			wantStatus: suspended, wantDue: "2027-03-15", wantMonths: 2,
		},
		{
			name:       "cancelled is final whatever the date",
			permit:     record("2026-03-15", "2026-03-15", cancelled),
			on:         "2026-04-01",
			wantStatus: cancelled, wantDue: "2027-03-15", wantMonths: 0,
		},
		{
			name:       "leap-day residence start: anniversary on 1 March",
			permit:     record("2028-02-29", "2028-02-29", active),
			on:         "2029-02-28",
			wantStatus: active, wantDue: "2029-03-01", wantWindow: "2029-02-01",
			wantMonths: 11,
		},
		{
			name:       "card validity over: expired",
			permit:     withValidUntil(record("2026-03-15", "2026-03-15", active), "2027-03-14"),
			on:         "2027-03-15",
			wantStatus: expired, wantDue: "2027-03-15", wantYears: 1, wantMonths: 12,
			customRules: &Rules{EndorsementWindowMonths: 1, CardValidityYears: 1},
		},
		{
			name:       "two-month window",
			permit:     record("2026-03-15", "2026-03-15", active),
			on:         "2026-03-15",
			wantStatus: active, wantDue: "2027-03-15", wantWindow: "2027-01-15",
			customRules: &Rules{EndorsementWindowMonths: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rules
			if tt.customRules != nil {
				r = *tt.customRules
			}
			s := scheduleOf(tt.permit, r)
			d := mustDate(tt.on)
			if got := statusOn(tt.permit, s, d); got != tt.wantStatus {
				t.Errorf("status = %v, want %v", got, tt.wantStatus)
			}
			if got := formatDate(s.nextDue); got != tt.wantDue {
				t.Errorf("next due = %s, want %s", got, tt.wantDue)
			}
			if tt.wantWindow != "" && formatDate(s.windowOpens) != tt.wantWindow {
				t.Errorf("window opens = %s, want %s", formatDate(s.windowOpens), tt.wantWindow)
			}
			if got := residenceYears(s, d); got != tt.wantYears {
				t.Errorf("residence years = %d, want %d", got, tt.wantYears)
			}
			if got := residenceMonths(tt.permit, s, d); got != tt.wantMonths {
				t.Errorf("residence months = %d, want %d", got, tt.wantMonths)
			}
		})
	}
}

func TestFullYears(t *testing.T) {
	tests := []struct {
		from, to string
		want     int
	}{
		{"2020-01-01", "2020-12-31", 0},
		{"2020-01-01", "2021-01-01", 1},
		{"2020-02-29", "2021-02-28", 0},
		{"2020-02-29", "2021-03-01", 1},
		{"2021-05-01", "2020-05-01", 0},
		{"2000-06-15", "2026-06-14", 25},
	}
	for _, tt := range tests {
		if got := fullYears(mustDate(tt.from), mustDate(tt.to)); got != tt.want {
			t.Errorf("fullYears(%s, %s) = %d, want %d", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestToday(t *testing.T) {
	// 2026-11-28 17:30 UTC is already 2026-11-29 in China Standard Time.
	got := formatDate(today(time.Date(2026, 11, 28, 17, 30, 0, 0, time.UTC)))
	if got != "2026-11-29" {
		t.Fatalf("today = %s, want 2026-11-29", got)
	}
}

func record(issued, start string, st epermitv1.PermitStatus, e ...*epermitv1.Endorsement) *epermitv1.Permit {
	return &epermitv1.Permit{IssueDate: issued, ResidenceStartDate: start, Status: st, Endorsements: e}
}

func suspendedByHand(p *epermitv1.Permit) *epermitv1.Permit {
	p.Status = epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED
	p.Suspension = &epermitv1.Suspension{Reason: "documents under review"}
	return p
}

func withValidUntil(p *epermitv1.Permit, d string) *epermitv1.Permit {
	p.ValidUntil = d
	return p
}

// TestResidenceMonthsAcrossCities: prior periods count when they run on
// into the residence here (a gap of one day at most); an earlier gap, or a
// late endorsement that restarted the count here, cuts them off.
func TestResidenceMonthsAcrossCities(t *testing.T) {
	period := func(start, end string) *epermitv1.ResidencePeriod {
		return &epermitv1.ResidencePeriod{Division: "330604", PermitId: "330604-X", StartDate: start, EndDate: end}
	}
	active := epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
	tests := []struct {
		name   string
		start  string
		priors []*epermitv1.ResidencePeriod
		want   int
	}{
		{"no prior periods", "2026-05-10", nil, 6},
		{"one period that runs on", "2026-05-10", []*epermitv1.ResidencePeriod{period("2024-01-10", "2026-05-10")}, 34},
		{"a one-day gap still runs on", "2026-05-10", []*epermitv1.ResidencePeriod{period("2024-01-10", "2026-05-09")}, 34},
		{"two periods in a row", "2026-05-10", []*epermitv1.ResidencePeriod{
			period("2023-01-10", "2024-01-10"), period("2024-01-10", "2026-05-10")}, 46},
		{"a gap before the last period", "2026-05-10", []*epermitv1.ResidencePeriod{
			period("2023-01-10", "2023-06-01"), period("2024-01-10", "2026-05-10")}, 34},
		{"a gap before the residence here", "2026-05-10", []*epermitv1.ResidencePeriod{period("2024-01-10", "2026-03-01")}, 6},
	}
	on := mustDate("2026-11-28")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := record(tt.start, tt.start, active)
			p.PriorResidence = tt.priors
			if got := residenceMonths(p, scheduleOf(p, DefaultRules()), on); got != tt.want {
				t.Fatalf("residence months = %d, want %d", got, tt.want)
			}
		})
	}
}
