// Package synth generates synthetic residents for tests, demos and
// benchmarks: permit holders with valid citizen id numbers, plausible
// Chinese names, household-registration (户籍) and residence addresses in
// the Yangtze River Delta, a spread of issue dates, and children as
// dependents.
//
// # Basics
//
// A [Generator] is made from [Options] (a seed, a reference day and the
// division the residents live in) and gives the i-th resident on demand:
//
//	g, err := synth.New(synth.Options{Seed: 1, Today: today, Division: "330604"})
//	r := g.Resident(0)
//	req := r.IssueRequest(client.NewRequestID())
//
// The same options and index always give the same resident, so any
// resident can be made again without keeping a list, and residents can be
// made from many goroutines at once (a Generator is read-only after New).
//
// # Citizen id numbers
//
// Every number passes citizenid.Parse on the reference day: its address
// code is a county-level division of the Delta (the holder's hukou, never
// the residence division), its birth date makes the holder 18 to 59 years
// old, and its check character is right. Numbers never repeat among the
// first [Generator.Capacity] residents and their children: the index is
// mapped to (address code, birth date, sequence code) by a keyed
// permutation, so uniqueness costs no memory. Holders use sequence codes
// 000-249 and children 250-999, so a holder's number never equals a
// child's.
//
// # Not real people
//
// Names are random combinations of common surnames and given-name
// characters, addresses random combinations of common road and community
// names under real division names. Any of them may coincide with a real
// person's by chance; none is taken from one. Use the output as test data
// only.
package synth
