// Package meter reads a site's energy meters and price/frequency feeds and turns them into
// [Reading] values for the power-policy engine.
//
// Each configured meter is a [Source] built by [New] from a [Config] (one `[[meter]]` table of
// the hashgate TOML file). A source runs in one goroutine ([Source.Run]) and delivers readings on
// a channel owned by the consumer. Sources never block on that channel: when it is full the newest
// reading is dropped and counted ([Stats.DroppedFull]), because a meter value that waits in a queue
// only gets staler and the next poll brings a fresh one.
//
// Supported sources:
//   - Modbus TCP: SunSpec meter models 201–204 and 211–214 (auto-discovered), Eastron SDM630,
//     Janitza UMG, or a user-defined register list;
//   - MQTT: a plain number, a JSON dot path, Shelly Gen2 status and Tasmota SENSOR payloads. A
//     retained message (the broker's copy of the last value, re-sent on every subscribe however
//     old it is) is a reading only when its payload carries a timestamp (Shelly "ts"); without
//     one it is ignored, so a dead meter never looks fresh after a broker reconnect;
//   - HTTP: JSON polling, and an authenticated push endpoint ([PushSource] is an http.Handler);
//   - sim: a trace played on an injected clock, for demos and tests.
//
// A meter that answers with garbage (NaN, a "not implemented" sentinel, a malformed payload)
// yields a reading with [QualityInvalid]; a meter that cannot be reached yields
// [QualityUnavailable]. Neither ever stops the source: the engine decides what a bad or missing
// reading means (it moves the fleet to its safe floor).
//
// Power values are always kW, whatever the device reports; frequency is Hz; price is passed
// through in the configured unit.
package meter
