package command

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// pageOptions are the paging flags of the list commands: --page-size,
// --page-token and --all.
type pageOptions struct {
	size  int32
	token string
	all   bool
}

// addFlags defines the paging flags on fs; noun names the things listed
// ("permits") and maxSize the largest page the node serves.
func (p *pageOptions) addFlags(fs *pflag.FlagSet, noun string, maxSize int) {
	fs.Int32Var(&p.size, "page-size", 0, fmt.Sprintf("`N` %s per page, 1-%d; the node's default (50) when not given", noun, maxSize))
	fs.StringVar(&p.token, "page-token", "", "continue from this `token`, printed by the previous page")
	fs.BoolVar(&p.all, "all", false, "follow the pages to the end and print all the "+noun)
}

// check refuses a negative --page-size.
func (p *pageOptions) check(cmd *cobra.Command) error {
	if p.size < 0 {
		return usagef(cmd, "--page-size must not be negative")
	}
	return nil
}

// follow reads the page of --page-token with page and, with --all, every
// page after it, as followPages does.
func (p *pageOptions) follow(page func(token string) (next string, err error)) (string, error) {
	return followPages(p.all, p.token, page)
}

// followPages calls page with token, the token of the first page, and
// then, when all is set, with each next page token page returns, until it
// returns none. It returns the last next page token, empty after the last
// page, and stops with an error at page's first error or when the node
// hands back the token of the page just read, which would never end.
func followPages(all bool, token string, page func(token string) (next string, err error)) (string, error) {
	for {
		next, err := page(token)
		if err != nil || !all || next == "" {
			return next, err
		}
		if next == token {
			return "", errors.New("the node returned the same page token twice; stopping")
		}
		token = next
	}
}
