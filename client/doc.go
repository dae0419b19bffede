// Package client is the Go client of epermit's node services
// (PermitService, AccountService, AuditService, ApplicationService,
// ScenarioService), for service-hall tools and partner systems that talk to
// a member division's permitd node.
//
// # Basics
//
// Dial a node, call the generated clients, and render errors for people
// with Describe:
//
//	c, err := client.Dial("permitd.330604.example:7700", client.Options{
//		Timeout: 10 * time.Second,
//		CAFile:  "ca.pem",
//		Token:   token,
//	})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	resp, err := c.Permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: id})
//	if err != nil {
//		fmt.Println(client.Describe(err))
//	}
//
// Every mutating request carries a request id; NewRequestID makes one. Send
// the same id again when retrying a request whose outcome is unknown (a
// timeout, a dropped connection) and the node applies it at most once.
//
// # Transport security and credentials
//
// Dial uses TLS unless told otherwise: with the certificate authorities of
// Options.CAFile when set, else with the system's. Plaintext is used only
// when Options.Insecure allows it, no TLS file is given and the node is on
// a loopback address. People authenticate with a bearer token
// (Options.Token), sent as per-RPC credentials; systems with a client
// certificate (Options.CertFile, Options.KeyFile) over mutual TLS. The node
// answers Unauthenticated for missing or bad credentials and
// PermissionDenied for a role or division that may not make the call.
//
// Partners reading personal data state a purpose (Options.Purpose), sent as
// x-epermit-purpose metadata; without it the node answers InvalidArgument.
//
// # Caveats
//
// gRPC metadata carries printable ASCII only, so a purpose written in
// Chinese cannot be sent as is. Mutating calls may be rate limited: the
// node answers ResourceExhausted with a RetryInfo detail, which Describe
// renders as "retry after DELAY".
package client
