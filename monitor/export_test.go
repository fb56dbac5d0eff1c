package monitor

import "time"

// SetLinkBackoff replaces the wait before reconnect attempt n, so a test
// sees the failure counts the link asks for.
func SetLinkBackoff(l *Link, fn func(failures int) time.Duration) { l.backoff = fn }
