package command

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// serviceSubjectOptions are the flags that name a service, the permit a
// request for it is for, the child it is for and its own fields, shared by
// eligibility and request submit.
type serviceSubjectOptions struct {
	service    string
	permitID   string
	credential string
	citizenID  string
	childName  string
	childID    string
	fields     []string
}

// serviceSubject is what the flags of serviceSubjectOptions name, ready
// to send.
type serviceSubject struct {
	service string
	permit  *epermitv1.ServicePermit
	child   *epermitv1.Child
	fields  map[string]string
}

// serviceSubjectUse is the synopsis of the flags in a command's Use.
const serviceSubjectUse = "--service CODE (--permit ID | --credential TEXT|- --citizen-id ID) " +
	"[--child-name NAME --child-citizen-id ID] [--field KEY=VALUE]..."

// serviceSubjectHelp describes the flags in a command's Long.
const serviceSubjectHelp = `--service names the service by its code ('permitctl scenarios' lists them).
The permit is one of this node's, by --permit ID, or a permit of any member
city by its credential (as scanned from its QR code): --credential TEXT, or
--credential - to read it from standard input, with --citizen-id from the
identity card presented, which must match the holder. A service for a child
(for a child: yes in the catalogue) needs --child-name and
--child-citizen-id; the node works out the child's birth date from the
citizen id. --field KEY=VALUE gives one of the service's request fields
(repeat it for each).`

// addFlags defines the flags on fs.
func (s *serviceSubjectOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.service, "service", "", "`code` of the service, e.g. school_enrolment (required)")
	fs.StringVar(&s.permitID, "permit", "", "`id` of a permit of this node")
	fs.StringVar(&s.credential, "credential", "", "the permit's credential `text`, or - to read it from standard input")
	fs.StringVar(&s.citizenID, "citizen-id", "", "with --credential, the holder's citizen `id` from the identity card presented")
	fs.StringVar(&s.childName, "child-name", "", "`name` of the child the request is for")
	fs.StringVar(&s.childID, "child-citizen-id", "", "18-character citizen `id` of the child the request is for")
	fs.StringArrayVar(&s.fields, "field", nil, "a request field as `KEY=VALUE`; repeat for each")
}

// subject checks the flags and returns what they name, reading the
// credential from standard input for "--credential -".
func (s *serviceSubjectOptions) subject(cmd *cobra.Command) (serviceSubject, error) {
	if err := requireFlags(cmd, "service"); err != nil {
		return serviceSubject{}, err
	}
	byPermit, byCredential := cmd.Flags().Changed("permit"), cmd.Flags().Changed("credential")
	switch {
	case byPermit && byCredential:
		return serviceSubject{}, usagef(cmd, "give either --permit or --credential, not both")
	case !byPermit && !byCredential:
		return serviceSubject{}, usagef(cmd, "name the permit with --permit ID, or --credential TEXT with --citizen-id ID")
	case byCredential && s.citizenID == "":
		return serviceSubject{}, usagef(cmd, "--credential needs --citizen-id, from the identity card presented")
	case byPermit && s.citizenID != "":
		return serviceSubject{}, usagef(cmd, "--citizen-id goes with --credential; a permit of this node is named by --permit alone")
	case (s.childName == "") != (s.childID == ""):
		return serviceSubject{}, usagef(cmd, "a child needs both --child-name and --child-citizen-id")
	}
	out := serviceSubject{service: s.service, permit: &epermitv1.ServicePermit{}}
	if byPermit {
		out.permit.Subject = &epermitv1.ServicePermit_PermitId{PermitId: s.permitID}
	} else {
		text, err := credentialText(cmd, []string{s.credential})
		if err != nil {
			return serviceSubject{}, err
		}
		out.permit.Subject = &epermitv1.ServicePermit_CredentialText{CredentialText: text}
		out.permit.CitizenId = s.citizenID
	}
	if s.childName != "" {
		out.child = &epermitv1.Child{Name: s.childName, CitizenId: s.childID}
	}
	for _, kv := range s.fields {
		key, value, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		switch _, dup := out.fields[key]; {
		case !ok || key == "":
			return serviceSubject{}, usagef(cmd, "--field %q is not KEY=VALUE", kv)
		case dup:
			return serviceSubject{}, usagef(cmd, "--field %s is given twice", key)
		}
		if out.fields == nil {
			out.fields = map[string]string{}
		}
		out.fields[key] = value
	}
	return out, nil
}
