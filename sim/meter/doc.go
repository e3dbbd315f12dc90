// Package meter simulates site energy meters over their real protocols, for `hashgate demo`,
// operators trying a config, and tests.
//
// [ModbusServer] is a Modbus TCP server exposing, at once, a SunSpec meter (model 201–204 or
// 211–214 behind the "SunS" marker and common model 1), the Eastron SDM630 input-register map
// and the Janitza UMG float block, all reading one settable power and frequency, with faults to
// inject (not-implemented sentinels, NaN, bad scale factors, exceptions, stalls).
//
// [Publisher] publishes readings to a real MQTT broker in the shapes meters use: a plain
// number, Shelly Gen2 status and NotifyStatus, and Tasmota SENSOR.
//
// The register layouts here are written from the device documentation independently of
// policy/meter, so tests that pair the two check one against the other.
package meter
