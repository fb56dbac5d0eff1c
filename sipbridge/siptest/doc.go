// Package siptest starts real SIP peers for tests: kamailio as a registrar
// and proxy with digest authentication, baresip as a far-end phone that
// plays a known tone and records what it hears, and sipp scenarios. It also
// holds the audio helpers that check a recording for a tone (Goertzel scan,
// WAV reader, G.711 codecs), so tests assert on audio rather than on packet
// counters.
//
// Start with [StartKamailio], then [StartBaresip] and [RunSipp]; check
// recordings with [CheckTone]. Every peer listens on 127.0.0.1 only, on
// ports from [FreePort] / [FreePorts], with its files in t.TempDir(), and is
// stopped by t.Cleanup. The configuration files live in the repository's
// testbed/ folder.
//
// A test that needs a peer program calls [RequireBinaries] (the Start
// functions do it themselves): when the program is missing the test is
// skipped, unless the environment variable SWITCHBOARD_E2E is "require",
// then it fails. SWITCHBOARD_E2E=off, or go test -short, skips real-peer
// tests.
//
// The package needs no code of sipbridge; any package's tests may import it.
package siptest
