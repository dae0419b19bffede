// Package department calls the systems of the departments that deliver
// services to permit holders, over the contract in
// proto/epermit/department/v1 (docs/departments.md).
//
// # Basics
//
// [Adapter] is what the node's outbox uses to hand a request to a
// department and to ask where it stands. [Dial] returns the gRPC
// implementation, [GRPCAdapter]; the caller's context carries the per-call
// deadline. [NewBreaker] wraps any Adapter in a circuit breaker, so that a
// department that is down is not called until a cool-down has passed.
//
// [Retryable] tells the errors whose outcome the node did not learn, worth
// retrying with the same request id, from final answers.
//
// # Caveats
//
// Delivery is at least once: a department may see a request id again, and
// must answer it as it did the first time. The adapters never retry by
// themselves; retries, backoff and their bounds belong to the outbox.
package department
