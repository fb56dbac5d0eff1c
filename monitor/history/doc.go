// Package history keeps ended calls in SQLite (modernc.org/sqlite, pure
// Go) and answers the call-history page's searches.
//
// Start with [Open] and [Store.Save]; wire [Store.Observe] into the hub
// with monitor.WithObserver. Observe only queues an ended call; the
// store's own goroutine saves it, so a slow disk never delays the hub or
// the source that published the call. [Store.Flush] waits for the queue,
// [Store.Close] drains it. The database runs in WAL mode with
// synchronous=FULL: once a call is saved, it survives the process being
// killed and the machine losing power. A call that could not be queued or
// saved is logged at Error and counted (see [Store.Collect]).
package history
