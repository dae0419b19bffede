package command

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// requestOptions holds --request-id, which every mutation takes.
type requestOptions struct {
	requestID string
}

// addFlags defines --request-id on fs.
func (r *requestOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&r.requestID, "request-id", "",
		"`id` making a retry safe (1-64 of A-Z a-z 0-9 . _ : -); a new time-ordered one when not given")
}

// id returns the request id, making a new one (client.NewRequestID) on
// first use when the clerk gave none.
func (r *requestOptions) id() string {
	if r.requestID == "" {
		r.requestID = client.NewRequestID()
	}
	return r.requestID
}

// explain adds to err, when it leaves open whether the node made the
// change, how to retry without making it twice.
func (r *requestOptions) explain(err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown, codes.Internal:
		return fmt.Errorf("%w (the change may or may not have been made; to retry safely, pass --request-id %s)", err, r.requestID)
	}
	return err
}

// versionOptions holds --if-version, which mutations of an existing permit
// take.
type versionOptions struct {
	ifVersion int64
}

// addFlags defines --if-version on fs.
func (v *versionOptions) addFlags(fs *pflag.FlagSet) {
	fs.Int64Var(&v.ifVersion, "if-version", 0,
		"act only if the permit is still at this `version` (the node answers aborted otherwise); by default its current version, read first")
}

// given reports whether the clerk gave --if-version.
func (v *versionOptions) given(cmd *cobra.Command) bool {
	return cmd.Flags().Changed("if-version")
}

// version returns the version to send for permit id: --if-version when
// given, else the permit's current version read from the node.
func (v *versionOptions) version(ctx context.Context, cmd *cobra.Command, c *client.Client, id string) (int64, error) {
	if v.given(cmd) {
		return v.ifVersion, nil
	}
	resp, err := c.Permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: id})
	if err != nil {
		return 0, err
	}
	return resp.GetPermit().GetVersion(), nil
}
