package auth

import (
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// PersonalData tells whether a method's answer carries personal data, which
// makes the call audited and makes partners state a purpose.
type PersonalData int

const (
	// NoPersonalData: the answer holds none.
	NoPersonalData PersonalData = iota
	// AlwaysPersonalData: every successful answer holds some.
	AlwaysPersonalData
	// PersonalDataOnRequest: only when the request's include_personal_data
	// is set.
	PersonalDataOnRequest
)

// Rule says who may call one gRPC method.
type Rule struct {
	// Public methods need no credentials (health, reflection, the public
	// issuer key).
	Public bool
	// Roles may call the method for their own division.
	Roles []epermitv1.Role
	// AnyDivision are roles (among Roles) that may call the method whatever
	// their division: partners of other member divisions.
	AnyDivision []epermitv1.Role
	// Mutation marks methods that change state: they are audited in the
	// same transaction as the change and rate limited per identity.
	Mutation bool
	// CitizenLimited marks changes that name a citizen (an issue, a
	// transfer, an application, a service request): they are also rate
	// limited per citizen id, so that no caller, or set of callers, can
	// flood one resident's record.
	CitizenLimited bool
	// Personal tells whether the answer carries personal data.
	Personal PersonalData
	// Audited marks other calls that leave an audit entry (account changes
	// are mutations; reading the audit log is itself audited).
	Audited bool
}

var (
	admin      = epermitv1.Role_ROLE_ADMIN
	supervisor = epermitv1.Role_ROLE_SUPERVISOR
	clerk      = epermitv1.Role_ROLE_CLERK
	auditor    = epermitv1.Role_ROLE_AUDITOR
	partner    = epermitv1.Role_ROLE_PARTNER
	department = epermitv1.Role_ROLE_DEPARTMENT
	allRoles   = []epermitv1.Role{admin, supervisor, clerk, auditor, partner, department}
)

// roles is a shorthand for a role list.
func roles(r ...epermitv1.Role) []epermitv1.Role { return r }

// Permissions is the permission table: every method of every service the
// node serves, with who may call it. A method missing here is refused to
// everyone (default deny); a test checks that every registered method is
// listed.
var Permissions = map[string]Rule{
	// PermitService: clerks do the daily work, supervisors reinstate and
	// decide cancellations (two of them), partners read and verify.
	"/epermit.v1.PermitService/IssuePermit":              {Roles: roles(clerk), Mutation: true, CitizenLimited: true},
	"/epermit.v1.PermitService/TransferPermit":           {Roles: roles(clerk), Mutation: true, CitizenLimited: true},
	"/epermit.v1.PermitService/GetPermit":                {Roles: roles(clerk, supervisor, partner), AnyDivision: roles(partner), Personal: AlwaysPersonalData},
	"/epermit.v1.PermitService/ListPermits":              {Roles: roles(clerk, supervisor), Personal: AlwaysPersonalData},
	"/epermit.v1.PermitService/EndorsePermit":            {Roles: roles(clerk), Mutation: true},
	"/epermit.v1.PermitService/SuspendPermit":            {Roles: roles(clerk), Mutation: true},
	"/epermit.v1.PermitService/ReinstatePermit":          {Roles: roles(supervisor), Mutation: true},
	"/epermit.v1.PermitService/CancelPermit":             {Roles: roles(supervisor), Mutation: true},
	"/epermit.v1.PermitService/ListPendingCancellations": {Roles: roles(supervisor), Personal: NoPersonalData},
	"/epermit.v1.PermitService/ApproveCancellation":      {Roles: roles(supervisor), Mutation: true},
	"/epermit.v1.PermitService/RejectCancellation":       {Roles: roles(supervisor), Mutation: true},
	"/epermit.v1.PermitService/VerifyPermit":             {Roles: roles(clerk, supervisor, partner), AnyDivision: roles(partner), Personal: PersonalDataOnRequest},
	"/epermit.v1.PermitService/GetIssuerKey":             {Public: true},

	// ImportService: bringing a division's existing residents in bulk is
	// a supervisor's decision, like the other changes no clerk makes
	// alone; admins manage accounts and keys, not permits. Each imported
	// permit has its own audit entry, written with it.
	"/epermit.v1.ImportService/ImportPermits": {Roles: roles(supervisor), Mutation: true},

	// KeyService: the key compromise drill is the admins' work, like the
	// keys and the trust list it follows: it decides nothing about any
	// resident (no permit's content changes, only the time its credential
	// is signed at), it is run once the admin has put the new key in the
	// trust list, and it touches every permit of the node at once, which
	// no supervisor's decision about residents does. Each re-signed permit
	// has its own audit entry, written with it.
	"/epermit.v1.KeyService/ResignPermits": {Roles: roles(admin), Mutation: true},

	// ApplicationService: clerks take applications in and supplement them;
	// clerks and supervisors decide them (approving issues the permit).
	"/epermit.v1.ApplicationService/SubmitApplication":     {Roles: roles(clerk), Mutation: true, CitizenLimited: true},
	"/epermit.v1.ApplicationService/GetApplication":        {Roles: roles(clerk, supervisor), Personal: AlwaysPersonalData},
	"/epermit.v1.ApplicationService/ListApplications":      {Roles: roles(clerk, supervisor), Personal: AlwaysPersonalData},
	"/epermit.v1.ApplicationService/SupplementApplication": {Roles: roles(clerk), Mutation: true},
	"/epermit.v1.ApplicationService/ApproveApplication":    {Roles: roles(clerk, supervisor), Mutation: true},
	"/epermit.v1.ApplicationService/RejectApplication":     {Roles: roles(clerk, supervisor), Mutation: true},

	// ScenarioService: clerks and the city's own partner systems (a
	// government-services portal) submit and follow service requests;
	// supervisors also retry and cancel them. The catalogue is public
	// within the node. A department system reports its decisions.
	"/epermit.v1.ScenarioService/ListScenarios":               {Roles: allRoles},
	"/epermit.v1.ScenarioService/CheckEligibility":            {Roles: roles(clerk, supervisor, partner), Personal: AlwaysPersonalData},
	"/epermit.v1.ScenarioService/SubmitServiceRequest":        {Roles: roles(clerk, partner), Mutation: true, CitizenLimited: true},
	"/epermit.v1.ScenarioService/GetServiceRequest":           {Roles: roles(clerk, supervisor, partner), Personal: AlwaysPersonalData},
	"/epermit.v1.ScenarioService/ListServiceRequests":         {Roles: roles(clerk, supervisor), Personal: AlwaysPersonalData},
	"/epermit.v1.ScenarioService/CancelServiceRequest":        {Roles: roles(clerk, supervisor), Mutation: true},
	"/epermit.v1.ScenarioService/RetryServiceRequest":         {Roles: roles(supervisor), Mutation: true},
	"/epermit.v1.ScenarioService/WatchServiceRequests":        {Roles: roles(clerk, supervisor, partner), Personal: AlwaysPersonalData},
	"/epermit.department.v1.StatusReportService/ReportStatus": {Roles: roles(department), Mutation: true},

	// AccountService: admin work, except asking who one is.
	"/epermit.v1.AccountService/CreateAccount":  {Roles: roles(admin), Mutation: true},
	"/epermit.v1.AccountService/ListAccounts":   {Roles: roles(admin)},
	"/epermit.v1.AccountService/DisableAccount": {Roles: roles(admin), Mutation: true},
	"/epermit.v1.AccountService/EnableAccount":  {Roles: roles(admin), Mutation: true},
	"/epermit.v1.AccountService/RotateToken":    {Roles: roles(admin), Mutation: true},
	"/epermit.v1.AccountService/WhoAmI":         {Roles: allRoles, AnyDivision: allRoles},

	// RateLimitService: admin work; every change is audited.
	"/epermit.v1.RateLimitService/SetRateLimitOverride":   {Roles: roles(admin), Mutation: true},
	"/epermit.v1.RateLimitService/ClearRateLimitOverride": {Roles: roles(admin), Mutation: true},
	"/epermit.v1.RateLimitService/ListRateLimitOverrides": {Roles: roles(admin)},
	"/epermit.v1.RateLimitService/ResetRateLimit":         {Roles: roles(admin), Mutation: true},

	// AuditService: auditor work; reading the log is itself recorded.
	"/epermit.v1.AuditService/ListAuditEntries": {Roles: roles(auditor), Audited: true},
	"/epermit.v1.AuditService/VerifyAuditChain": {Roles: roles(auditor), Audited: true},

	// FederationService: member nodes call each other, over mutual TLS.
	// The status list holds no personal data: an entry's index is random
	// and only the permit's own credential names it.
	"/epermit.v1.FederationService/GetStatusList": {Roles: roles(partner), AnyDivision: roles(partner)},
	// The rest serve transfers and the one-permit rule: lookups by citizen
	// id and residence histories are personal (a purpose, audited); the
	// supersede changes a permit; a live status holds no personal data.
	"/epermit.v1.FederationService/FindPermits":         {Roles: roles(partner), AnyDivision: roles(partner), Personal: AlwaysPersonalData},
	"/epermit.v1.FederationService/GetPermitStatus":     {Roles: roles(partner), AnyDivision: roles(partner)},
	"/epermit.v1.FederationService/GetResidenceHistory": {Roles: roles(partner), AnyDivision: roles(partner), Personal: AlwaysPersonalData},
	"/epermit.v1.FederationService/SupersedePermit":     {Roles: roles(partner), AnyDivision: roles(partner), Mutation: true},
	// A member hands over an application it accepted on this node's behalf
	// (异地代收); the change is audited with the caller's account.
	"/epermit.v1.FederationService/ForwardApplication": {Roles: roles(partner), AnyDivision: roles(partner), Mutation: true, CitizenLimited: true},

	// Standard services: health checks for load balancers and
	// orchestrators, reflection for tools such as grpcurl. Neither reveals
	// any permit.
	"/grpc.health.v1.Health/Check":                                   {Public: true},
	"/grpc.health.v1.Health/List":                                    {Public: true},
	"/grpc.health.v1.Health/Watch":                                   {Public: true},
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {Public: true},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {Public: true},
}
