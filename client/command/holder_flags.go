package command

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// holderOptions are the flags that name a resident and their residence,
// shared by issue and application submit.
type holderOptions struct {
	name             string
	citizenID        string
	ethnicity        string
	hukouAddress     string
	residenceAddress string
	residenceStart   string
}

// holderRequired are the holder flags a command cannot do without.
var holderRequired = []string{"name", "citizen-id", "ethnicity", "hukou-address", "residence-address"}

// addFlags defines the holder flags on fs; where says where the residence
// address is and startDefault what --residence-start defaults to.
func (h *holderOptions) addFlags(fs *pflag.FlagSet, where, startDefault string) {
	fs.StringVar(&h.name, "name", "", "full `name` as on the resident identity card (required)")
	fs.StringVar(&h.citizenID, "citizen-id", "", "18-character citizen `id` number (公民身份号码) (required)")
	fs.StringVar(&h.ethnicity, "ethnicity", "", "`ethnicity` (民族), e.g. 汉 (required)")
	fs.StringVar(&h.hukouAddress, "hukou-address", "", "household-registration (户籍) `address` (required)")
	fs.StringVar(&h.residenceAddress, "residence-address", "", "residence `address` in "+where+" (required)")
	fs.StringVar(&h.residenceStart, "residence-start", "", "`date` (YYYY-MM-DD) residence there began; default "+startDefault)
}

// check refuses missing required flags and a malformed --residence-start.
func (h *holderOptions) check(cmd *cobra.Command) error {
	if err := requireFlags(cmd, holderRequired...); err != nil {
		return err
	}
	if h.residenceStart != "" {
		if _, err := time.Parse(time.DateOnly, h.residenceStart); err != nil {
			return usagef(cmd, "--residence-start %q is not a date written YYYY-MM-DD", h.residenceStart)
		}
	}
	return nil
}

// holder is the holder the flags name.
func (h *holderOptions) holder() *epermitv1.Holder {
	return &epermitv1.Holder{Name: h.name, CitizenId: h.citizenID, Ethnicity: h.ethnicity, HukouAddress: h.hukouAddress}
}
