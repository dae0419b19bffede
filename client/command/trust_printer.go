package command

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/trust"
)

// trustPrinter prints the results of the trust commands. Both printers
// implement it beside printer; the trust commands are offline and their
// results are not protobuf messages, so the JSON printer writes the views
// below with encoding/json (times in RFC 3339, UTC).
type trustPrinter interface {
	// TrustRegistry prints a registry key pair just made.
	TrustRegistry(r trustRegistryResult) error
	// TrustMember prints a member of the source just added, changed or
	// removed.
	TrustMember(r trustMemberResult) error
	// TrustSigned prints a list just signed.
	TrustSigned(r trustSignedResult) error
	// TrustList prints a verified list.
	TrustList(r trustListResult) error
	// TrustNote writes a note for people to standard error.
	TrustNote(note string) error
}

// Ensure both printers are trust printers.
var (
	_ trustPrinter = (*tablePrinter)(nil)
	_ trustPrinter = (*jsonPrinter)(nil)
)

// trustRegistryResult is what trust init-registry prints.
type trustRegistryResult struct {
	KeyFile    string `json:"key_file"`
	PublicFile string `json:"public_file"`
	KID        string `json:"kid"`
	Algorithm  string `json:"algorithm"`
}

// trustMemberResult is what trust add, remove and rotate print.
type trustMemberResult struct {
	// Action is "added", "removed", "key removed" or "rotated".
	Action string `json:"action"`
	// Source is the source file changed.
	Source string `json:"source"`
	// Created says the source file was created.
	Created bool `json:"created,omitempty"`
	// RemovedKID is the key removed by trust remove --kid.
	RemovedKID string `json:"removed_kid,omitempty"`
	// Member is the member as it now is, or as it was when removed.
	Member trustMemberView `json:"member"`
}

// trustSignedResult is what trust sign prints.
type trustSignedResult struct {
	Out         string    `json:"out"`
	Source      string    `json:"source"`
	Sequence    uint64    `json:"sequence"`
	IssuedAt    time.Time `json:"issued_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	RegistryKID string    `json:"registry_kid"`
	Members     int       `json:"members"`
	Keys        int       `json:"keys"`
	Bytes       int       `json:"bytes"`
}

// trustListResult is what trust show prints.
type trustListResult struct {
	File        string            `json:"file"`
	Sequence    uint64            `json:"sequence"`
	IssuedAt    time.Time         `json:"issued_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
	RegistryKID string            `json:"registry_kid"`
	CheckedAt   time.Time         `json:"checked_at"`
	Members     []trustMemberView `json:"members"`
}

// trustMemberView is a member as printed.
type trustMemberView struct {
	Division string         `json:"division"`
	Name     string         `json:"name"`
	Province string         `json:"province"`
	Endpoint string         `json:"endpoint"`
	Keys     []trustKeyView `json:"keys"`
}

// trustKeyView is an issuer key as printed.
type trustKeyView struct {
	KID       string    `json:"kid"`
	Algorithm string    `json:"algorithm"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// State is "pending", "active" or "retired" at the time of the
	// command.
	State        string `json:"state"`
	PublicKeyPEM string `json:"public_key_pem"`
}

// keyState says whether a key with the window [nbf, naf) may sign at now.
func keyState(nbf, naf, now time.Time) string {
	switch {
	case now.Before(nbf):
		return "pending"
	case now.Before(naf):
		return "active"
	}
	return "retired"
}

// memberView returns the view of a source member at now.
func memberView(m sourceMember, now time.Time) trustMemberView {
	v := trustMemberView{Division: m.Division, Name: m.Name, Province: m.Province, Endpoint: m.Endpoint,
		Keys: make([]trustKeyView, len(m.Keys))}
	for i, k := range m.Keys {
		v.Keys[i] = trustKeyView{KID: k.KID, Algorithm: k.Algorithm, NotBefore: k.NotBefore.UTC(), NotAfter: k.NotAfter.UTC(),
			State: keyState(k.NotBefore, k.NotAfter, now), PublicKeyPEM: k.PublicKey}
	}
	return v
}

// listView returns the view of a verified list read from file, checked
// with the registry key registryKID at time at.
func listView(l *trust.List, registryKID, file string, at time.Time) trustListResult {
	r := trustListResult{File: file, Sequence: l.Sequence, IssuedAt: l.IssuedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC(),
		RegistryKID: registryKID, CheckedAt: at.UTC().Truncate(time.Second), Members: make([]trustMemberView, len(l.Members))}
	for i, m := range l.Members {
		v := trustMemberView{Division: m.Division, Name: m.Name, Province: m.Province, Endpoint: m.Endpoint,
			Keys: make([]trustKeyView, len(m.Keys))}
		for j, k := range m.Keys {
			pemText, _ := credential.MarshalPublicKeyPEM(k.PublicKey) // the key verified, so it marshals
			v.Keys[j] = trustKeyView{KID: k.KID, Algorithm: k.Algorithm, NotBefore: k.NotBefore.UTC(), NotAfter: k.NotAfter.UTC(),
				State: keyState(k.NotBefore, k.NotAfter, at), PublicKeyPEM: string(pemText)}
		}
		r.Members[i] = v
	}
	return r
}

// trustTime shows t in China Standard Time to the second.
func trustTime(t time.Time) string {
	return t.In(chinaStandardTime).Format("2006-01-02 15:04:05 MST")
}

// memberNote says what happened to a member and what to do next.
func memberNote(r trustMemberResult) string {
	file := r.Source
	if r.Created {
		file += " (new file)"
	}
	var what string
	switch r.Action {
	case "added":
		what = "Added " + r.Member.Division + " to " + file
	case "removed":
		what = "Removed " + r.Member.Division + " from " + file
	case "key removed":
		what = "Removed key " + r.RemovedKID + " of " + r.Member.Division + " from " + file
	default:
		what = "Rotated the keys of " + r.Member.Division + " in " + file
	}
	return what + ". Nodes see the change once the list is signed (permitctl trust sign --source " + r.Source +
		" --registry-key FILE) and published."
}

// signedNote says how to publish a signed list.
func signedNote(r trustSignedResult) string {
	return "Publish " + r.Out + " where the nodes read it (their trust.list_file or trust.list_url); " +
		"they load it within their refresh interval. Sign again before " + trustTime(r.ExpiresAt) + "."
}

// TrustRegistry prints the registry key id and where the keys went.
func (t *tablePrinter) TrustRegistry(r trustRegistryResult) error {
	tb := t.newTable()
	tb.add("Registry key", r.KID)
	tb.add("Algorithm", r.Algorithm)
	tb.add("Private key", r.KeyFile+" (keep it offline)")
	tb.add("Public key", r.PublicFile+" (give it to every node: trust.registry_pub)")
	return tb.writeTo(t.out)
}

// TrustMember prints the member's fields, then its keys; the note goes to
// errOut.
func (t *tablePrinter) TrustMember(r trustMemberResult) error {
	if err := t.TrustNote(memberNote(r)); err != nil {
		return err
	}
	m := r.Member
	tb := t.newTable()
	tb.add("Division", m.Division)
	tb.add("Name", m.Name)
	tb.add("Province", m.Province)
	tb.add("Endpoint", m.Endpoint)
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(t.out); err != nil {
		return err
	}
	keys := t.newTable()
	keys.add("KID", "ALG", "NOT BEFORE", "NOT AFTER", "STATE")
	for _, k := range m.Keys {
		keys.add(k.KID, k.Algorithm, trustTime(k.NotBefore), trustTime(k.NotAfter), k.State)
	}
	return keys.writeTo(t.out)
}

// TrustSigned prints what was signed; how to publish it goes to errOut.
func (t *tablePrinter) TrustSigned(r trustSignedResult) error {
	tb := t.newTable()
	tb.add("Signed list", r.Out)
	tb.add("Source", r.Source)
	tb.add("Sequence", strconv.FormatUint(r.Sequence, 10))
	tb.add("Issued at", trustTime(r.IssuedAt))
	tb.add("Expires at", trustTime(r.ExpiresAt))
	tb.add("Registry key", r.RegistryKID)
	tb.add("Members", strconv.Itoa(r.Members))
	tb.add("Keys", strconv.Itoa(r.Keys))
	tb.add("Size", strconv.Itoa(r.Bytes)+" bytes")
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	return t.TrustNote(signedNote(r))
}

// TrustList prints the list's header, a table of members and a table of
// keys.
func (t *tablePrinter) TrustList(r trustListResult) error {
	tb := t.newTable()
	tb.add("File", r.File)
	tb.add("Sequence", strconv.FormatUint(r.Sequence, 10))
	tb.add("Issued at", trustTime(r.IssuedAt))
	tb.add("Expires at", trustTime(r.ExpiresAt))
	tb.add("Registry key", r.RegistryKID+" (signature verified)")
	tb.add("Checked at", trustTime(r.CheckedAt))
	tb.add("Members", strconv.Itoa(len(r.Members)))
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	members := t.newTable()
	members.add("DIVISION", "NAME", "PROVINCE", "ENDPOINT", "KEYS")
	keys := t.newTable()
	keys.add("DIVISION", "KID", "ALG", "NOT BEFORE", "NOT AFTER", "STATE")
	for _, m := range r.Members {
		members.add(m.Division, m.Name, m.Province, m.Endpoint, strconv.Itoa(len(m.Keys)))
		for _, k := range m.Keys {
			keys.add(m.Division, k.KID, k.Algorithm, trustTime(k.NotBefore), trustTime(k.NotAfter), k.State)
		}
	}
	for _, table := range []*table{members, keys} {
		if _, err := fmt.Fprintln(t.out); err != nil {
			return err
		}
		if err := table.writeTo(t.out); err != nil {
			return err
		}
	}
	return nil
}

// TrustNote writes the note to errOut.
func (t *tablePrinter) TrustNote(note string) error {
	_, err := fmt.Fprintln(t.errOut, note)
	return err
}

// TrustRegistry prints {"key_file", "public_file", "kid", "algorithm"}.
func (j *jsonPrinter) TrustRegistry(r trustRegistryResult) error {
	return j.printJSON(r)
}

// TrustMember prints the result, the member with its keys and their PEM;
// the note goes to errOut.
func (j *jsonPrinter) TrustMember(r trustMemberResult) error {
	if err := j.note(memberNote(r)); err != nil {
		return err
	}
	return j.printJSON(r)
}

// TrustSigned prints the result; how to publish it goes to errOut.
func (j *jsonPrinter) TrustSigned(r trustSignedResult) error {
	if err := j.printJSON(r); err != nil {
		return err
	}
	return j.note(signedNote(r))
}

// TrustList prints the list with its members and keys.
func (j *jsonPrinter) TrustList(r trustListResult) error {
	return j.printJSON(r)
}

// TrustNote writes the note to errOut.
func (j *jsonPrinter) TrustNote(note string) error {
	return j.note(note)
}

// printJSON writes v as JSON indented by two spaces, and a newline.
func (j *jsonPrinter) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = j.out.Write(append(b, '\n'))
	return err
}
