package storetest

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// cst is China Standard Time, the zone of every permit date.
var cst = time.FixedZone("CST", 8*60*60)

// PermitID returns a permit id of the issuing division 330604 that is unique
// for each n >= 0; ids sort in the order of n.
func PermitID(n int) string {
	return fmt.Sprintf("330604-%013d", n)
}

// CitizenID returns an 18-character citizen id number with a valid GB 11643
// check character that is unique for each n in [0, 10,000,000).
func CitizenID(n int) string {
	birth := time.Date(1960, 1, 1, 0, 0, 0, 0, cst).AddDate(0, 0, n/1000)
	body := fmt.Sprintf("340104%s%03d", birth.Format("20060102"), n%1000)
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(body[i]-'0') * w
	}
	return body + string("10X98765432"[sum%11])
}

// NewPermit returns a realistic permit with this id, held by the citizen with
// this citizen id: ACTIVE, version 1, issued in 2024 and endorsed once.
func NewPermit(id, citizenID string) *epermitv1.Permit {
	holder := &epermitv1.Holder{
		Name:         "测试者丙",
		CitizenId:    citizenID,
		Sex:          epermitv1.Sex_SEX_MALE,
		BirthDate:    "1990-01-01",
		Ethnicity:    "汉",
		HukouAddress: "安徽省合肥市庐阳区长江中路 88 号",
	}
	if len(citizenID) == 18 {
		if birth, err := time.Parse("20060102", citizenID[6:14]); err == nil {
			holder.BirthDate = birth.Format(time.DateOnly)
		}
		if (citizenID[16]-'0')%2 == 0 {
			holder.Sex = epermitv1.Sex_SEX_FEMALE
		}
	}
	issued := time.Date(2024, 3, 14, 9, 30, 0, 0, cst)
	endorsed := time.Date(2025, 3, 3, 14, 5, 0, 0, cst)
	return &epermitv1.Permit{
		Id:                 id,
		Holder:             holder,
		ResidenceAddress:   "浙江省绍兴市上虞区百官街道市民大道 1 号",
		IssuingDivision:    "330604",
		IssuingAuthority:   "绍兴市公安局上虞区分局",
		IssueDate:          issued.Format(time.DateOnly),
		ResidenceStartDate: issued.Format(time.DateOnly),
		Endorsements: []*epermitv1.Endorsement{
			{Date: endorsed.Format(time.DateOnly), DueDate: "2025-03-14"},
		},
		Status: epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE,
		PriorResidence: []*epermitv1.ResidencePeriod{{
			Division:  "320506",
			PermitId:  "320506-7Q2M4K9XW3B1C",
			StartDate: "2021-06-01",
			EndDate:   "2024-03-01",
		}},
		ResidenceYears:         1,
		NextEndorsementDue:     "2026-03-14",
		EndorsementWindowOpens: "2026-02-12",
		Version:                1,
		CreateTime:             timestamppb.New(issued),
		UpdateTime:             timestamppb.New(endorsed),
		CredentialTime:         timestamppb.New(endorsed),
	}
}
