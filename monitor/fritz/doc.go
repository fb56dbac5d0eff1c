// Package fritz watches an AVM Fritz!Box through its call monitor: a TCP
// stream on port 1012 (enabled on the box by dialling #96*5*) that carries
// one line per call event.
//
// Start with [Source] (the live connection, a monitor.Source) and
// [ParseLine] (the wire format). [Tracker] maps parsed lines onto the
// shared call model, [Replay] feeds a recorded stream through it as fast
// as it can, and [Demo] loops a bundled recording in real time for a
// server that has no router to watch. The Source and [Lines] (the raw
// line client of the fritzmonitor command) both run on monitor.Link, the
// connection loop every source shares; this package gives it the call
// monitor's session (dial, read lines, probe a quiet router).
package fritz
