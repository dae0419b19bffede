// Package atomicfile replaces whole files so that a reader sees the old
// content or the new, never a part, and the new content survives a power
// cut once Write has returned.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces the file at path with data, mode perm. It writes a
// temporary file in the same directory, syncs it, renames it into place
// and syncs the directory (SyncDir), so that the rename is durable too.
// On an error the temporary file is removed.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	SyncDir(dir)
	return nil
}

// SyncDir makes the renames into dir and the files created in it durable
// by syncing the directory. A file system that cannot sync a directory is
// not an error: its entries are in place either way.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
