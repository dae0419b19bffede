// Command permitd runs one member division's electronic residence permit
// node. With no flags it serves division 330604 (Shangyu) on 127.0.0.1:7700
// with its data in ./data; permitd -help lists the settings.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/server/node"
)

// drainTimeout bounds how long shutdown waits for in-flight calls.
const drainTimeout = 20 * time.Second

func main() {
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
