package siptest

import "errors"

var (
	// ErrExited is returned when a peer process ended while it was awaited.
	ErrExited = errors.New("peer process exited")
	// ErrNotReady is returned when a peer did not become ready in time.
	ErrNotReady = errors.New("peer not ready")
	// ErrNetstring is returned for malformed netstring framing on baresip's
	// control socket.
	ErrNetstring = errors.New("malformed netstring")
	// ErrNotWAV is returned by ReadWAV for a file that is not 16-bit PCM WAV.
	ErrNotWAV = errors.New("not a 16-bit PCM WAV file")
	// ErrNoSignal is returned by CheckTone when a recording holds only
	// silence.
	ErrNoSignal = errors.New("no signal")
	// ErrWrongTone is returned by CheckTone when the dominant frequency is
	// not the expected one.
	ErrWrongTone = errors.New("wrong tone")
	// ErrNoRecording is returned when a phone has recorded no call yet.
	ErrNoRecording = errors.New("no recording")
	// ErrCommandFailed is returned when baresip answers a control command
	// with ok=false.
	ErrCommandFailed = errors.New("baresip command failed")
	// ErrRegistration is returned when a phone's registration failed.
	ErrRegistration = errors.New("registration failed")
	// ErrScenarioFailed is returned when sipp exits with a non-zero
	// status: a call of the scenario did not go as scripted.
	ErrScenarioFailed = errors.New("sipp scenario failed")
)
