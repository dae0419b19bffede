// Command permitd runs one member division's electronic residence permit
// node. With no flags it serves division 330604 (Shangyu) on 127.0.0.1:7700
// with its data in ./data; permitd -help lists the settings.
//
// permitd new-issuer-key [-data DIR] makes the next issuer key for a key
// rotation (docs/trust.md).
//
// permitd copy --from URL --to URL [--resume] copies a node's store into
// another and checks the copy (docs/operations.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/server/node"
)

// drainTimeout bounds how long shutdown waits for in-flight calls.
const drainTimeout = 20 * time.Second

func main() {
	if len(os.Args) > 1 && os.Args[1] == "new-issuer-key" {
		os.Exit(newIssuerKey(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "copy" {
		os.Exit(runCopy(os.Args[2:], os.Stdout, os.Stderr))
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(node.GCPercent)
	}
	cfg, err := node.Load(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, node.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "permitd:", err)
		os.Exit(2)
	}
	n, err := node.New(cfg, node.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "permitd:", err)
		os.Exit(1)
	}
	// Catch the signals before announcing the address, so that a
	// supervisor's SIGTERM right after start still drains and closes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, _ := division.Lookup(cfg.Division)
	data, _ := filepath.Abs(cfg.Data)
	fmt.Printf("permitd: division %s %s, issuer key %s\n", d.Code, d.FullName(), n.KID())
	fmt.Printf("permitd: data in %s\n", data)
	if f := n.BootstrapTokenFile(); f != "" {
		abs, _ := filepath.Abs(f)
		fmt.Printf("permitd: created the admin account; its token is in %s (mode 0600)\n", abs)
	}
	transport := "plaintext, loopback only"
	switch tls, mutual := n.TLS(); {
	case mutual:
		transport = "mutual TLS"
	case tls:
		transport = "TLS"
	}
	if a := n.MetricsAddr(); a != nil {
		fmt.Printf("permitd: metrics on http://%s/metrics\n", a)
	}
	fmt.Printf("permitd: serving gRPC on %s (%s)\n", n.Addr(), transport)
	fmt.Printf("permitd: try  go run ./client/permitctl --server %s --token-file %s whoami\n",
		n.Addr(), filepath.Join(data, node.AdminTokenFile))

	served := make(chan error, 1)
	go func() { served <- n.Serve() }()
	select {
	case err = <-served:
	case <-ctx.Done():
		fmt.Println("permitd: shutting down, draining in-flight calls")
		sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		err = n.Shutdown(sctx)
		cancel()
		if serr := <-served; err == nil {
			err = serr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "permitd:", err)
		os.Exit(1)
	}
}

// newIssuerKey runs permitd new-issuer-key and returns the exit status.
func newIssuerKey(args []string) int {
	fs := flag.NewFlagSet("permitd new-issuer-key", flag.ContinueOnError)
	data := fs.String("data", node.DefaultConfig().Data, "the node's data `folder`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: permitd new-issuer-key [-data DIR]

Makes the node's next issuer key for a rotation, as issuer-<kid>.key in the
data folder, and writes its public key beside it as issuer-<kid>.pem for the
registry. The node loads its keys at start, so restart it afterwards; it
keeps signing with its current key until a trust list it has loaded names
the new key as valid (permitctl trust rotate, with a not-before in the
future), and from then on signs with the new key, with no further restart.`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "permitd new-issuer-key: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	kid, pem, err := node.NewIssuerKey(*data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "permitd new-issuer-key:", err)
		return 1
	}
	fmt.Printf("new issuer key %s; its public key is in %s\n", kid, pem)
	fmt.Printf("next: permitctl trust rotate DIVISION --issuer-key %s --not-before WHEN, sign and publish the list, restart permitd\n", pem)
	return 0
}
