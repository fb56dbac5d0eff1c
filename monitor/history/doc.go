// Package history keeps ended calls in SQLite (modernc.org/sqlite, pure
// Go) or PostgreSQL (github.com/jackc/pgx/v5) and answers the
// call-history page's searches.
//
// Start with [Open] (a file) or [OpenPostgres] (a database several
// servers may share: its schema comes from embedded, numbered migrations
// run under an advisory lock) and [Store.Save]; both give the same Store,
// whose statements are written once for both (see dialect). wire [Store.Observe] into the hub
// with monitor.WithObserver. Observe only queues a call change; the
// store's own goroutine writes it: an ended call into the history, an
// active one into the table of active calls, which [Store.ActiveCalls]
// hands to monitor.NewRestart after a crash. [Store.Flush] waits for the
// queue, [Store.Close] drains it. The database runs in WAL mode with
// synchronous=FULL: once a change is saved, it survives the process being
// killed and the machine losing power.
//
// A change the database does not take (its save failed, the queue was
// full, shutdown came first) goes through the store's one function for unsaved changes into the retry
// spool, a file beside the database, synced before it counts; the
// store's retry loop writes the spool once the database can be written
// again, and [Store.Health] says meanwhile that the history is degraded.
// The store also counts server runs, and [Store.NextKey] (a
// monitor.KeyAllocator) hands out call keys unique for ever from them.
package history
