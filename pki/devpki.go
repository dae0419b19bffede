package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	divisions "github.com/yrd-epermit/epermit/division"
)

// Client names a client certificate for WriteDevPKI: the account and its
// division. An empty Division means the node's.
type Client struct {
	Account, Division string
}

// Validity of the development PKI's certificates. They start devSkew before
// now so that a clock a little behind still accepts them.
const (
	devCAYears   = 5
	devLeafYears = 1
	devSkew      = 5 * time.Minute
)

// WriteDevPKI writes a development PKI into dir, creating it (mode 0700)
// when missing; an existing dir keeps its mode:
//
//   - ca.pem, ca.key: a new CA ("epermit development CA <division>"), valid
//     5 years;
//   - node.pem, node.key: a node certificate for division naming hosts,
//     valid 1 year;
//   - <account>.pem, <account>.key for each client, valid 1 year.
//
// Key files have mode 0600, certificates 0644. WriteDevPKI never overwrites:
// it fails, having written nothing, when ca.key or any other of the files
// already exists, and it removes what it wrote when it fails part way.
// Accounts must be valid account names other than "node", each once.
func WriteDevPKI(dir, division string, hosts []string, clients []Client, now time.Time) error {
	if !divisions.IsCode(division) {
		return fmt.Errorf("pki: division %q is not a six-digit code", division)
	}
	clients = slices.Clone(clients)
	seen := map[string]bool{}
	for i, c := range clients {
		switch {
		case !validAccount(c.Account):
			return fmt.Errorf("pki: client account %q is not a valid account name (3-64 of a-z 0-9 . _ -, starting with a letter)", c.Account)
		case c.Account == "node":
			return errors.New(`pki: client account "node" would overwrite the node certificate`)
		case seen[c.Account]:
			return fmt.Errorf("pki: client account %q is given twice", c.Account)
		case c.Division == "":
			clients[i].Division = division
		case !divisions.IsCode(c.Division):
			return fmt.Errorf("pki: division %q of client %s is not a six-digit code", c.Division, c.Account)
		}
		seen[c.Account] = true
	}
	caKeyFile := filepath.Join(dir, "ca.key")
	if _, err := os.Lstat(caKeyFile); err == nil {
		return fmt.Errorf("pki: %s already exists; a development PKI is never overwritten: remove %s or choose another folder", caKeyFile, dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pki: %w", err)
	}

	start := now.Add(-devSkew)
	ca, err := NewCA("epermit development CA "+division, start, now.AddDate(devCAYears, 0, 0))
	if err != nil {
		return err
	}
	leafEnd := now.AddDate(devLeafYears, 0, 0)
	caKey, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	files := []devFile{
		{"ca.key", caKey, 0o600},
		{"ca.pem", ca.CertPEM(), 0o644},
	}
	certPEM, keyPEM, err := ca.IssueServer(division, hosts, start, leafEnd)
	if err != nil {
		return err
	}
	files = append(files, devFile{"node.key", keyPEM, 0o600}, devFile{"node.pem", certPEM, 0o644})
	for _, c := range clients {
		certPEM, keyPEM, err := ca.IssueClient(c.Account, c.Division, start, leafEnd)
		if err != nil {
			return err
		}
		files = append(files, devFile{c.Account + ".key", keyPEM, 0o600}, devFile{c.Account + ".pem", certPEM, 0o644})
	}
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, f.name)); err == nil {
			return fmt.Errorf("pki: %s already exists; a development PKI is never overwritten: remove it or choose another folder", filepath.Join(dir, f.name))
		}
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	for i, f := range files {
		if err := f.write(dir); err != nil {
			for _, w := range files[:i] {
				os.Remove(filepath.Join(dir, w.name))
			}
			return err
		}
	}
	return nil
}

// devFile is one file of a development PKI.
type devFile struct {
	name string
	data []byte
	perm os.FileMode
}

// write creates the file in dir, failing if it exists.
func (f devFile) write(dir string) error {
	path := filepath.Join(dir, f.name)
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.perm)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	_, err = fd.Write(f.data)
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return nil
}
