// Package monitortest holds what the source packages' tests share: a
// real TCP server on 127.0.0.1 whose connections a test can drop, whose
// listener it can stop, hang and restart on the same port ([Server],
// under the protocol stand-ins fritztest, amitest and esltest), and a
// recording monitor.Sink a test waits on ([Recorder]).
package monitortest
