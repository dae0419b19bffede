package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/yrd-epermit/epermit/internal/atomicfile"
)

// FileOverrides keeps the overrides of a single node (the bbolt store) in
// memory and in a JSON file, rewritten whole at every change through a
// temporary file renamed into place after fsync: a change survives a
// restart, kill -9 included, once Put or Delete has returned. The file is
// not in the bbolt store because overrides are operator settings that only
// this process reads, and the store's interface stays the same for every
// backend; it is small (one line per override). It is safe for concurrent
// use.
type FileOverrides struct {
	path string

	mu  sync.RWMutex
	all map[string]Override
}

// OpenFileOverrides reads the overrides in the file at path; a missing file
// holds none.
func OpenFileOverrides(path string) (*FileOverrides, error) {
	f := &FileOverrides{path: path, all: map[string]Override{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	var list []Override
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("ratelimit: %s: %w", path, err)
	}
	for _, o := range list {
		f.all[o.Key] = o
	}
	return f, nil
}

// Get implements Overrides.
func (f *FileOverrides) Get(_ context.Context, keys ...string) (map[string]Override, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string]Override{}
	for _, k := range keys {
		if o, ok := f.all[k]; ok {
			out[k] = o
		}
	}
	return out, nil
}

// List implements Overrides.
func (f *FileOverrides) List(context.Context) ([]Override, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.sorted(), nil
}

// Put implements Overrides.
func (f *FileOverrides) Put(_ context.Context, o Override) (*Override, error) {
	return f.change(o.Key, &o)
}

// Delete implements Overrides.
func (f *FileOverrides) Delete(_ context.Context, key string) (*Override, error) {
	return f.change(key, nil)
}

// change sets key to o (removes it when o is nil), writes the file and
// returns the previous override. When the file cannot be written nothing
// changes.
func (f *FileOverrides) change(key string, o *Override) (*Override, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, had := f.all[key]
	if o != nil {
		f.all[key] = *o
	} else {
		delete(f.all, key)
	}
	if err := f.write(); err != nil {
		if had {
			f.all[key] = old
		} else {
			delete(f.all, key)
		}
		return nil, err
	}
	if !had {
		return nil, nil
	}
	return &old, nil
}

// sorted returns the overrides ordered by key; f.mu must be held.
func (f *FileOverrides) sorted() []Override {
	out := make([]Override, 0, len(f.all))
	for _, k := range slices.Sorted(maps.Keys(f.all)) {
		out = append(out, f.all[k])
	}
	return out
}

// write replaces the file with the current overrides; f.mu must be held.
func (f *FileOverrides) write() error {
	b, err := json.MarshalIndent(f.sorted(), "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(f.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("ratelimit: %w", err)
	}
	return nil
}
