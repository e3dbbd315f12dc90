package firmware

import (
	"sync"
	"time"
)

// hardwareTTL is how long Status reuses a miner's hardware reading on
// firmware where reading it costs extra calls (LuxOS, Braiins):
// temperatures, fans and boards move over minutes, and a status poll every
// few seconds across a fleet need not pay for them each time.
const hardwareTTL = 30 * time.Second

// HardwareFields are the Status fields that describe the hardware
// (temperatures, fans, boards, uptime) rather than power.
const HardwareFields = FieldBoardTemp | FieldChipTemp | FieldFans | FieldBoards | FieldUptime

// hwReading is one hardware read of one miner; Known is 0 when the read
// failed, so a failing miner is asked again only after hardwareTTL.
type hwReading struct {
	at time.Time
	st Status
}

// hwCache keeps the last hardware reading per miner address: one entry
// per miner the driver talks to, like the driver's tokens and sessions.
type hwCache struct {
	mu sync.Mutex
	m  map[string]hwReading
}

// get returns addr's reading if it is younger than hardwareTTL.
func (c *hwCache) get(addr string, now time.Time) (hwReading, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[addr]
	return r, ok && now.Sub(r.at) < hardwareTTL && now.Sub(r.at) >= 0
}

func (c *hwCache) put(addr string, r hwReading) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]hwReading)
	}
	c.m[addr] = r
}

// forget drops addr's reading: after a reboot its uptime restarts.
func (c *hwCache) forget(addr string) {
	c.mu.Lock()
	delete(c.m, addr)
	c.mu.Unlock()
}

// mergeHardware copies r's hardware fields into st, advancing the uptime
// by the reading's age.
func mergeHardware(st *Status, r hwReading, now time.Time) {
	hw := r.st
	st.BoardTempC, st.ChipTempC = hw.BoardTempC, hw.ChipTempC
	st.FansRPM, st.FanCount = hw.FansRPM, hw.FanCount
	st.BoardsWorking, st.BoardsTotal = hw.BoardsWorking, hw.BoardsTotal
	st.UptimeS = hw.UptimeS
	if hw.Has(FieldUptime) {
		st.UptimeS += int64(now.Sub(r.at) / time.Second)
	}
	st.Known |= hw.Known & HardwareFields
}
