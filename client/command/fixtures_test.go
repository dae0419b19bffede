package command

import (
	"crypto/sha256"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Synthetic test data: made-up people, generated citizen ids with valid
// check characters, and a credential text that is not a real signature.

// ts returns the timestamp of a time in China Standard Time.
func ts(s string) *timestamppb.Timestamp {
	t, err := time.ParseInLocation(time.DateTime, s, chinaStandardTime)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

// testCredentialText stands in for a credential; it is not signed.
const testCredentialText = "YRD1:6BFOXN*TS0BI$ZDFRH%GHEIQ2%MN4F7QU$MJ0R5/0SDBIE2UD$ET+RA0-J$PJ.H5JXMI:7ODS0K9E3D:7LZBU%M3BHE4/9U*VQKI+ MDUN0Q7W2E"

// activePermit is an active permit with one endorsement.
func activePermit() *epermitv1.Permit {
	return &epermitv1.Permit{
		Id: "330604-4F7K2M9QXW3B7",
		Holder: &epermitv1.Holder{
			Name:         "测试者甲",
			CitizenId:    "330602199001011231",
			Sex:          epermitv1.Sex_SEX_MALE,
			BirthDate:    "1990-01-01",
			Ethnicity:    "汉",
			HukouAddress: "浙江省绍兴市越城区测试路1号",
		},
		ResidenceAddress:       "浙江省绍兴市上虞区百官街道测试小区2幢301室",
		IssuingDivision:        "330604",
		IssuingAuthority:       "绍兴市公安局上虞区分局",
		IssueDate:              "2025-03-10",
		ResidenceStartDate:     "2025-03-10",
		Endorsements:           []*epermitv1.Endorsement{{Date: "2026-03-02", DueDate: "2026-03-10"}},
		Status:                 epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE,
		ResidenceYears:         1,
		NextEndorsementDue:     "2027-03-10",
		EndorsementWindowOpens: "2027-02-08",
		Version:                3,
		CreateTime:             ts("2025-03-10 09:30:00"),
		UpdateTime:             ts("2026-03-02 14:05:11"),
		CredentialTime:         ts("2026-03-02 14:05:11"),
	}
}

// activeCredential is the credential of activePermit.
func activeCredential() *epermitv1.Credential {
	return &epermitv1.Credential{Text: testCredentialText, Kid: "9c1f0e6d2b7a4c35", ExpireTime: ts("2027-03-10 00:00:00")}
}

// suspendedPermit is suspended by hand after a late endorsement, with
// residence recognised elsewhere and a long name with a middle dot.
func suspendedPermit() *epermitv1.Permit {
	return &epermitv1.Permit{
		Id: "330604-7QW2M4K9XB3F1",
		Holder: &epermitv1.Holder{
			Name:         "欧阳测试者乙·阿依",
			CitizenId:    "110101199003074514",
			Sex:          epermitv1.Sex_SEX_MALE,
			BirthDate:    "1990-03-07",
			Ethnicity:    "维吾尔",
			HukouAddress: "北京市东城区测试胡同1号",
		},
		ResidenceAddress:   "浙江省绍兴市上虞区曹娥街道测试路88号",
		IssuingDivision:    "330604",
		IssuingAuthority:   "绍兴市公安局上虞区分局",
		IssueDate:          "2023-06-01",
		ResidenceStartDate: "2025-07-15",
		Endorsements: []*epermitv1.Endorsement{
			{Date: "2024-05-20", DueDate: "2024-06-01"},
			{Date: "2025-07-15", DueDate: "2025-06-01", Late: true},
		},
		ValidUntil:             "2033-06-01",
		Status:                 epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED,
		Suspension:             &epermitv1.Suspension{Reason: "居住地址核查中", Time: ts("2026-01-12 10:00:00")},
		PriorResidence:         []*epermitv1.ResidencePeriod{{Division: "320502", PermitId: "320502-2B8N5R4T6Y1U9", StartDate: "2020-01-06", EndDate: "2023-05-31"}},
		ResidenceYears:         0,
		NextEndorsementDue:     "2026-07-15",
		EndorsementWindowOpens: "2026-06-15",
		Version:                7,
		CreateTime:             ts("2023-06-01 08:45:00"),
		UpdateTime:             ts("2026-01-12 10:00:00"),
		CredentialTime:         ts("2025-07-15 16:20:00"),
	}
}

// confiscatedPermit is final, with a note.
func confiscatedPermit() *epermitv1.Permit {
	return &epermitv1.Permit{
		Id: "330604-9X3B7F4K2M8Q5",
		Holder: &epermitv1.Holder{
			Name:         "测试者丙",
			CitizenId:    "320502198506120028",
			Sex:          epermitv1.Sex_SEX_FEMALE,
			BirthDate:    "1985-06-12",
			Ethnicity:    "汉",
			HukouAddress: "江苏省苏州市姑苏区测试巷3号",
		},
		ResidenceAddress:   "浙江省绍兴市上虞区测试大道100号",
		IssuingDivision:    "330604",
		IssuingAuthority:   "绍兴市公安局上虞区分局",
		IssueDate:          "2024-11-20",
		ResidenceStartDate: "2024-11-20",
		Status:             epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
		Cancellation: &epermitv1.Cancellation{
			Reason: epermitv1.CancelReason_CANCEL_REASON_FORGED,
			Note:   "测试案卷 (2026) 第1号",
			Time:   ts("2026-02-03 11:22:33"),
		},
		NextEndorsementDue:     "2025-11-20",
		EndorsementWindowOpens: "2025-10-21",
		Version:                2,
		CreateTime:             ts("2024-11-20 15:00:00"),
		UpdateTime:             ts("2026-02-03 11:22:33"),
		CredentialTime:         ts("2024-11-20 15:00:00"),
	}
}

// validVerification is the node's answer for activePermit's credential.
func validVerification() *epermitv1.VerifyPermitResponse {
	return &epermitv1.VerifyPermitResponse{
		Verdict: epermitv1.Verdict_VERDICT_VALID,
		Findings: []*epermitv1.Finding{
			{Check: epermitv1.Check_CHECK_FORMAT, Passed: true, Detail: "the text is a YRD1 credential"},
			{Check: epermitv1.Check_CHECK_ISSUER, Passed: true, Detail: "issued by 330604 with key 9c1f0e6d2b7a4c35"},
			{Check: epermitv1.Check_CHECK_SIGNATURE, Passed: true, Detail: "the signature verifies"},
			{Check: epermitv1.Check_CHECK_TIME_WINDOW, Passed: true, Detail: "valid from 2026-03-02 until 2027-03-10"},
			{Check: epermitv1.Check_CHECK_STATUS, Passed: true, Detail: "the permit is active; next endorsement due 2027-03-10"},
		},
		Permit: &epermitv1.PermitSummary{
			PermitId:           "330604-4F7K2M9QXW3B7",
			HolderName:         "测试者甲",
			MaskedCitizenId:    "330602********1231",
			IssuingDivision:    "330604",
			ResidenceStartDate: "2025-03-10",
			ResidenceYears:     1,
			NextEndorsementDue: "2027-03-10",
			ExpireTime:         ts("2027-03-10 00:00:00"),
		},
		Status: epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE,
	}
}

// notValidVerification is the node's answer for confiscatedPermit's id.
func notValidVerification() *epermitv1.VerifyPermitResponse {
	return &epermitv1.VerifyPermitResponse{
		Verdict: epermitv1.Verdict_VERDICT_NOT_VALID,
		Findings: []*epermitv1.Finding{
			{Check: epermitv1.Check_CHECK_STATUS, Detail: "the permit was confiscated on 2026-02-03 (forged)"},
		},
		Permit: &epermitv1.PermitSummary{
			PermitId:           "330604-9X3B7F4K2M8Q5",
			HolderName:         "测试者丙",
			MaskedCitizenId:    "320502********0028",
			IssuingDivision:    "330604",
			ResidenceStartDate: "2024-11-20",
			NextEndorsementDue: "2025-11-20",
			ExpireTime:         ts("2025-11-20 00:00:00"),
		},
		Status: epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED,
	}
}

// issuerKey is a node's public key (a made-up Ed25519 key).
func issuerKey() *epermitv1.GetIssuerKeyResponse {
	return &epermitv1.GetIssuerKeyResponse{
		Division:  "330604",
		Kid:       "9c1f0e6d2b7a4c35",
		Algorithm: "EdDSA",
		PublicKey: []byte("0123456789abcdef0123456789abcdef"),
		PublicKeyPem: "-----BEGIN PUBLIC KEY-----\n" +
			"MCowBQYDK2VwAyEAMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n" +
			"-----END PUBLIC KEY-----\n",
	}
}

// pendingCancellation is a supervisor's request to cancel activePermit.
func pendingCancellation() *epermitv1.PendingCancellation {
	return &epermitv1.PendingCancellation{
		Id:            "pc-5KQ2M9XW3B7T",
		PermitId:      "330604-4F7K2M9QXW3B7",
		PermitVersion: 3,
		Reason:        epermitv1.CancelReason_CANCEL_REASON_LOCAL_HUKOU,
		RequestedBy:   "sup.li",
		RequestTime:   ts("2026-03-05 10:00:00"),
	}
}

// pendingConfiscation is a request to confiscate suspendedPermit, with a
// note.
func pendingConfiscation() *epermitv1.PendingCancellation {
	return &epermitv1.PendingCancellation{
		Id:            "pc-7QW2M4K9XB3F",
		PermitId:      "330604-7QW2M4K9XB3F1",
		PermitVersion: 7,
		Reason:        epermitv1.CancelReason_CANCEL_REASON_FORGED,
		Note:          "测试案卷 (2026) 第2号",
		RequestedBy:   "sup.zhou",
		RequestTime:   ts("2026-03-06 15:30:00"),
	}
}

// clerkAccount is a person account of a service-hall clerk.
func clerkAccount() *epermitv1.Account {
	return &epermitv1.Account{
		Name:       "clerk.wang",
		Division:   "330604",
		Roles:      []epermitv1.Role{epermitv1.Role_ROLE_CLERK},
		Kind:       epermitv1.AccountKind_ACCOUNT_KIND_PERSON,
		Note:       "上虞区行政服务中心 测试窗口3",
		CreateTime: ts("2026-03-01 09:00:00"),
		UpdateTime: ts("2026-03-01 09:00:00"),
		TokenTime:  ts("2026-03-01 09:00:00"),
	}
}

// clerkToken is the bearer token of clerkAccount (made up).
const clerkToken = "epk_test_Q2xlcmtXYW5nVGVzdFRva2VuMDAwMQ"

// supervisorAccount is a person account with two roles.
func supervisorAccount() *epermitv1.Account {
	return &epermitv1.Account{
		Name:       "sup.li",
		Division:   "330604",
		Roles:      []epermitv1.Role{epermitv1.Role_ROLE_SUPERVISOR, epermitv1.Role_ROLE_CLERK},
		Kind:       epermitv1.AccountKind_ACCOUNT_KIND_PERSON,
		CreateTime: ts("2026-02-10 08:30:00"),
		UpdateTime: ts("2026-03-02 10:00:00"),
		TokenTime:  ts("2026-03-02 10:00:00"),
	}
}

// partnerAccount is a disabled system account of another division.
func partnerAccount() *epermitv1.Account {
	return &epermitv1.Account{
		Name:       "partner-320502",
		Division:   "320502",
		Roles:      []epermitv1.Role{epermitv1.Role_ROLE_PARTNER},
		Kind:       epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM,
		Disabled:   true,
		Note:       "苏州市姑苏区测试节点",
		CreateTime: ts("2026-01-20 14:00:00"),
		UpdateTime: ts("2026-03-03 16:45:00"),
	}
}

// hashOf returns a SHA-256 hash standing in for an audit entry's.
func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// auditEntries are four entries of an audit log: an issue, a partner's
// read with a purpose, a refused call and a cancellation request.
func auditEntries() []*epermitv1.AuditEntry {
	return []*epermitv1.AuditEntry{
		{Seq: 1, Time: ts("2026-03-01 09:30:00"), Actor: "clerk.wang", Roles: []epermitv1.Role{epermitv1.Role_ROLE_CLERK},
			Division: "330604", Method: "/epermit.v1.PermitService/IssuePermit", Target: "330604-4F7K2M9QXW3B7",
			RequestId: "01KJKB3Q00AAAAAAAAAAAAAAAAAAAAAAAAAA", Outcome: "OK",
			PrevHash: make([]byte, 32), Hash: hashOf("1")},
		{Seq: 2, Time: ts("2026-03-02 11:15:42"), Actor: "partner-320502", Roles: []epermitv1.Role{epermitv1.Role_ROLE_PARTNER},
			Division: "320502", Method: "/epermit.v1.PermitService/GetPermit", Target: "330604-4F7K2M9QXW3B7",
			Outcome: "OK", Purpose: "residence check for school enrolment", PrevHash: hashOf("1"), Hash: hashOf("2")},
		{Seq: 3, Time: ts("2026-03-03 08:01:05"), Actor: "clerk.wang", Roles: []epermitv1.Role{epermitv1.Role_ROLE_CLERK},
			Division: "330604", Method: "/epermit.v1.PermitService/ReinstatePermit", Target: "330604-7QW2M4K9XB3F1",
			RequestId: "01KJKB3Q01BBBBBBBBBBBBBBBBBBBBBBBBBB", Outcome: "PERMISSION_DENIED",
			PrevHash: hashOf("2"), Hash: hashOf("3")},
		{Seq: 4, Time: ts("2026-03-05 10:00:00"), Actor: "sup.li", Roles: []epermitv1.Role{epermitv1.Role_ROLE_SUPERVISOR, epermitv1.Role_ROLE_CLERK},
			Division: "330604", Method: "/epermit.v1.PermitService/CancelPermit", Target: "330604-4F7K2M9QXW3B7",
			RequestId: "01KJKB3Q02CCCCCCCCCCCCCCCCCCCCCCCCCC", Outcome: "OK",
			PrevHash: hashOf("3"), Hash: hashOf("4")},
	}
}

// intactChain is the answer of VerifyAuditChain for an intact log.
func intactChain() *epermitv1.VerifyAuditChainResponse {
	return &epermitv1.VerifyAuditChainResponse{Intact: true, Entries: 1234, HeadSeq: 1234, HeadHash: hashOf("1234")}
}

// brokenChain is the answer of VerifyAuditChain for a log with an edited
// entry.
func brokenChain() *epermitv1.VerifyAuditChainResponse {
	return &epermitv1.VerifyAuditChainResponse{
		Entries: 1234, FirstBadSeq: 17, Problem: "the entry's hash does not match its contents",
		HeadSeq: 1234, HeadHash: hashOf("1234"),
	}
}
