// Package history keeps ended calls in SQLite (modernc.org/sqlite, pure
// Go) and answers the call-history page's searches.
//
// Start with [Open] and [Store.Save]; wire [Store.Observe] into the hub
// with monitor.WithObserver so that every ended call is saved before the
// hub moves on. The database runs in WAL mode with synchronous=FULL: once
// Save has returned, the call survives the process being killed and the
// machine losing power.
package history
