// Package division is the shipped table of administrative divisions
// (GB/T 2260) of the Yangtze River Delta: Shanghai, Jiangsu, Zhejiang and
// Anhui.
//
// The table, divisions.tsv, is embedded in the binary. It holds the four
// province-level entries, all 41 prefecture-level cities (counting Shanghai)
// and the county-level districts, counties and county-level cities the
// project has checked. It is deliberately not a complete GB/T 2260 list: a
// code is added only once it is known to be right.
//
// # Levels
//
// Codes have three levels. 330000 浙江省 is a [Province], 330600 绍兴市 a
// [Prefecture] and 330604 上虞区 a [County]. Shanghai is a municipality:
// 310000 上海市 is a Province entry that also plays the prefecture role, so
// [Division.City] of a Shanghai district, and of 310000 itself, is 310000.
//
// # Issuing divisions
//
// Residence permits are signed and issued by county-level public-security
// bureaus (Interim Regulations on Residence Permits, art. 10), so only
// county-level entries may be a node's issuing division ([Division.CanIssue]).
// [Division.Authority] gives the bureau's conventional name; real names
// sometimes differ (development-zone bureaus, for instance), which is why a
// node's configuration may override it.
//
// This table is not for validating citizen id numbers: their address codes
// come from anywhere in the mainland and may be retired. See package citizenid.
package division
