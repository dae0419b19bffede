// Package client is the Go client of epermit's PermitService, for service-hall
// tools and partner systems that talk to a member division's permitd node.
//
// # Basics
//
// Dial a node, call the generated PermitService client, and render errors
// for people with Describe:
//
//	c, err := client.Dial("127.0.0.1:7700", client.Options{Timeout: 10 * time.Second, Insecure: true})
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
// # Caveats
//
// Transport security is not implemented yet, so Dial only makes plaintext
// connections, and only to a loopback address: set Options.Insecure to
// accept that.
package client
