package command

import (
	"fmt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Notes both printers write to standard error, for people.

// approveNote says what happens to a cancellation request next.
func approveNote(p *epermitv1.PendingCancellation) string {
	return fmt.Sprintf("Nothing changes until a second supervisor of the division approves the request:\n"+
		"  permitctl pending approve %s\n"+
		"To withdraw it, or for another supervisor to reject it:\n"+
		"  permitctl pending reject %s",
		p.GetId(), p.GetId())
}

// tokenWarning says that a new token will not be shown again.
func tokenWarning(a *epermitv1.Account) string {
	return fmt.Sprintf("The token of %s is shown only now: the node keeps only its hash. Hand it over in person or\n"+
		"over a trusted channel; if it is lost, 'permitctl admin rotate %s' makes a new one.",
		a.GetName(), a.GetName())
}

// systemNote says how a new system account authenticates.
func systemNote(a *epermitv1.Account) string {
	return fmt.Sprintf("System account %s has no token: it authenticates over mutual TLS with a client certificate\n"+
		"whose subject common name is %s, issued by the node's client CA.",
		a.GetName(), a.GetName())
}

// accountNotes returns the notes for an account result, if any.
func accountNotes(r accountResult) []string {
	var notes []string
	if r.Token != "" {
		notes = append(notes, tokenWarning(r.Account))
	}
	if r.Created && r.Account.GetKind() == epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM {
		notes = append(notes, systemNote(r.Account))
	}
	return notes
}
