// Command devpki writes a development PKI for epermit: a throw-away CA, a
// node certificate and client certificates, and prints the permitd and
// permitctl flags that use them.
//
//	go run ./server/devpki -dir pki -division 330604 -host localhost -host 127.0.0.1 \
//	    -client admin -client clerk1 -client partner-310101:310101
//
// writes pki/ca.pem and pki/ca.key (the CA, valid 5 years), pki/node.pem and
// pki/node.key (the node of division 330604, for the hosts given) and
// pki/<account>.pem and pki/<account>.key for each -client NAME[:DIVISION]
// (valid 1 year; the division defaults to -division). It never overwrites:
// remove the folder to start again. Key files are readable by their owner
// only.
//
// The PKI is for development and tests. A production deployment uses node and
// client certificates from the province's CA. See docs/security.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/pki"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "devpki:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "devpki:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ error }

// defaultHosts are the node certificate's names when no -host is given.
var defaultHosts = []string{"localhost", "127.0.0.1"}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// run is devpki with its arguments (without the program name); the report
// goes to stdout, usage and flag errors to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devpki", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `devpki writes a development PKI for epermit: a CA, a node certificate and
client certificates, in one folder that it creates. It never overwrites an
existing PKI. For development and tests only: production uses the
province's CA.

Example:
  devpki -dir pki -division 330604 -host localhost -host 127.0.0.1 \
      -client admin -client clerk1 -client partner-310101:310101

Flags:
`)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "pki", "`folder` to write (created with mode 0700)")
	div := fs.String("division", "330604", "the node's issuing division `code` (GB/T 2260, county level)")
	var hosts, clients listFlag
	fs.Var(&hosts, "host", "host `name` or IP address of the node, repeatable (default localhost and 127.0.0.1)")
	fs.Var(&clients, "client", "client certificate for account `NAME[:DIVISION]`, repeatable; the division defaults to -division")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q; see devpki -help", fs.Arg(0))}
	}
	if *dir == "" {
		return usageError{errors.New("-dir is empty")}
	}
	node, ok := division.Lookup(*div)
	if !ok {
		return usageError{fmt.Errorf("division %q is not a Delta division in the shipped table", *div)}
	}
	if !node.CanIssue() {
		return usageError{fmt.Errorf("division %s (%s) is not county-level: nodes belong to district and county bureaus", node.Code, node.Name)}
	}
	if len(hosts) == 0 {
		hosts = defaultHosts
	}
	var list []pki.Client
	for _, c := range clients {
		name, code, hasDiv := strings.Cut(c, ":")
		if !hasDiv {
			code = node.Code
		}
		if name == "" {
			return usageError{fmt.Errorf("-client %q: the account name is empty", c)}
		}
		if _, ok := division.Lookup(code); !ok {
			return usageError{fmt.Errorf("-client %q: division %q is not a Delta division in the shipped table", c, code)}
		}
		list = append(list, pki.Client{Account: name, Division: code})
	}

	now := time.Now()
	if err := pki.WriteDevPKI(*dir, node.Code, hosts, list, now); err != nil {
		return err
	}
	report(stdout, *dir, node, hosts, list, now)
	return nil
}

// report prints what run wrote and how to use it.
func report(w io.Writer, dir string, node division.Division, hosts []string, clients []pki.Client, now time.Time) {
	path := func(name string) string { return filepath.Join(dir, name) }
	date := func(years int) string { return now.AddDate(years, 0, 0).Format(time.DateOnly) }
	fmt.Fprintf(w, "devpki: wrote a development PKI for %s %s in %s\n", node.Code, node.FullName(), dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\tCA certificate, the trust anchor, valid until %s\n", path("ca.pem"), date(5))
	fmt.Fprintf(tw, "  %s\tCA key: it signs anything this PKI trusts; keep it private\n", path("ca.key"))
	fmt.Fprintf(tw, "  %s\tnode certificate of %s for %s, valid until %s\n", path("node.pem"), node.Code, strings.Join(hosts, ", "), date(1))
	fmt.Fprintf(tw, "  %s\tnode key\n", path("node.key"))
	for _, c := range clients {
		fmt.Fprintf(tw, "  %s\tclient certificate of account %s, division %s, valid until %s\n", path(c.Account+".pem"), c.Account, c.Division, date(1))
		fmt.Fprintf(tw, "  %s\tits key\n", path(c.Account+".key"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "permitd, serving TLS and requiring client certificates of this CA:")
	fmt.Fprintf(w, "  go run ./server/permitd --division %s --tls-cert %s --tls-key %s --client-ca %s\n",
		node.Code, path("node.pem"), path("node.key"), path("ca.pem"))
	if len(clients) > 0 {
		server := net.JoinHostPort(hosts[0], "7700")
		fmt.Fprintf(w, "\npermitctl, as each account (--server must name one of the node certificate's hosts):\n")
		for _, c := range clients {
			fmt.Fprintf(w, "  go run ./client/permitctl --server %s --ca %s --cert %s --key %s\n",
				server, path("ca.pem"), path(c.Account+".pem"), path(c.Account+".key"))
		}
	}
	fmt.Fprintln(w, "\nFor development only: a production node uses certificates from the province's CA.")
}
