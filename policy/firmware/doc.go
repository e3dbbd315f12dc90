// Package firmware holds hashgate's miner control drivers: the part of the
// power-policy chain that actually cuts an ASIC's power.
//
// The policy engine decides per miner to run, throttle or pause; withholding
// stratum jobs alone does not reliably lower an ASIC's draw, so a decision is
// only carried out through the miner's own control API. Each firmware family
// sits behind one small interface, [Driver]:
//
//	luxos       LuxOS cgminer-style JSON over TCP 4028: logon/session,
//	            "curtail sleep|wakeup", "profileset" for power steps.
//	braiins     Braiins OS public API, gRPC on 50051 (HTTP/2 cleartext),
//	            hand-encoded protobuf: Login, PauseMining/ResumeMining,
//	            SetPowerTarget, GetTunerState, GetMinerStats, GetMinerStatus.
//	whatsminer  Whatsminer API v2 over TCP 4028: get_token, md5-crypt key
//	            derivation, AES-256-ECB "enc" envelope; power_off/power_on.
//	bitaxe      ESP-Miner REST on port 80: /api/system/info,
//	            POST /api/system/pause|resume. No watt target exists.
//	vnish       VNish REST /api/v1 on port 80: unlock → token,
//	            mining/pause|resume, tuned presets as power steps.
//	antminer    stock Bitmain CGI on port 80 with HTTP digest auth: sleep
//	            through the work mode, always read back.
//	none        a miner without a control channel: every write is
//	            [ErrUnsupported], so the policy falls back to the gate.
//
// Besides power, every driver reports what its firmware says about the
// hardware (hottest board and chip temperature, fans, hashboards working,
// uptime; [Status.Known] says which) and offers [Driver.Reboot] and
// [Driver.Locate] (the locate LED) where the firmware documents them,
// [ErrUnsupported] otherwise (ESP-Miner has no locate LED).
//
// Every write is read back: a firmware that answers "OK" and changes nothing
// (documented for stock Antminers and seen elsewhere) yields
// [ErrNotConfirmed], never a silent success. [Dispatcher] fans commands out to
// many miners with a concurrency bound, per-command timeout and retries with
// backoff, and reports one [Result] per miner to an audit sink.
//
// Only a miner's success counts as one: an HTTP status outside 2xx (no
// redirect is followed), a gRPC status other than OK, in headers or
// trailers, and a refusal in a cgminer-style STATUS are errors; a LuxOS
// warning (STATUS "W") to a command is an answer. A driver sends a command
// again only when the miner refused the session or token it carried, so it
// was not carried out; LuxOS refusals do not say so, so a LuxOS command is
// sent again only when the miner no longer holds the session, and a reboot
// never: its session is checked before it is sent.
//
// Protocol facts and their sources are recorded in the repository's
// power-control research notes; each driver file cites what it relies on and
// says plainly what it cannot do.
package firmware
