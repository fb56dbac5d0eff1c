// Package siptest starts real SIP peers for tests: kamailio as a registrar
// and proxy with digest authentication, baresip as a far-end phone that
// plays a known tone and records what it hears, and sipp scenarios. It also
// holds the audio helpers that check a recording for a tone (Goertzel scan,
// WAV reader and writer, G.711 codecs), so tests assert on audio rather
// than on packet counters.
//
// A typical test:
//
//	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
//	far := siptest.StartBaresip(t, siptest.BaresipOptions{
//		User: "1002", Registrar: k.Addr(), ToneHz: 440, AutoAnswer: true})
//	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
//	defer cancel()
//	if err := far.WaitRegistered(ctx); err != nil { t.Fatal(err) }
//	// ... register account 1001 (password siptest.Password("1001")) at
//	// k.Addr() and call far.URI() ...
//	far.WaitEvent(ctx, "CALL_ESTABLISHED")
//	far.WaitRecorded(ctx, 500*time.Millisecond)
//	far.Hangup(ctx)
//	far.WaitEvent(ctx, "CALL_CLOSED")
//	hz, err := far.CheckHeard(1000) // the tone our side sent
//
// Peers:
//   - [StartKamailio]: registrar/proxy on 127.0.0.1 (UDP and TCP, one
//     port), users 1000..1005 ([Users]) with password "pw"+user
//     ([Password]), realm = the From domain, so use From/AOR
//     user@127.0.0.1. Ready once it answers a SIP OPTIONS probe.
//     [Kamailio.Restart] keeps the port and forgets every registration
//     (usrloc is in memory), as a registrar reboot would.
//   - [StartBaresip]: a phone with its own SIP port (and port+1, which
//     baresip takes for TLS), control port and RTP range, driven over
//     ctrl_tcp (dial, answer, hangup, hold, resume, transfer, DTMF); it
//     records every call (dec = heard, enc = sent; baresip 1.0 stops the
//     dec recording at the first re-INVITE).
//   - [RunSipp], [StartSipp], [StartSippIn], [StartSippUAS]: the
//     scenarios in testbed/sipp (register.xml, uac-invite-auth.xml,
//     uas-answer.xml with a ring delay, uas-busy.xml answering 486,
//     uas-decline.xml answering 603, uas-timer.xml for session timers,
//     uas-info.xml checking DTMF INFO bodies, uas-refer-decline.xml and
//     uas-refer-silent.xml answering a REFER 603, or 202 and never a
//     NOTIFY; [SippUASOptions.Scenario] runs any other), the callers
//     uac-reinvite.xml, uac-glare.xml and uac-timer.xml that change a call
//     in progress, and, calling a user agent directly,
//     uac-refer-refused.xml, uac-info-dtmf.xml, uac-replaces.xml and
//     uac-replaces-unknown.xml.
//
// Audio: [DominantFrequency], [Goertzel], [CheckTone], [ToneRuns], [ReadWAV],
// [ParseWAV], [WriteWAV], [WriteToneWAV], [Sine], [Channel], [RMS],
// [MuLawDecode], [MuLawEncode], [ALawDecode], [ALawEncode].
//
// Every peer listens on 127.0.0.1 only, on ports from [FreePort] /
// [FreePorts] (free for UDP and TCP, and locked across test binaries
// running in parallel), with its files in t.TempDir(); it is stopped by
// t.Cleanup, and its log is printed when the test failed. The
// configuration templates live in the repository's testbed/ folder
// ([TestbedDir]).
//
// A test that needs a peer program calls [RequireBinaries] (the Start
// functions do it themselves): when the program is missing the test is
// skipped, unless the environment variable SWITCHBOARD_E2E is "require",
// then it fails. SWITCHBOARD_E2E=off, or go test -short, skips real-peer
// tests. testbed/install.sh installs the programs.
//
// The package needs no code of sipbridge; any package's tests may import it.
package siptest
