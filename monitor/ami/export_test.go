package ami

// DecodeRecording is decodeRecording, for the external tests.
var DecodeRecording = decodeRecording
