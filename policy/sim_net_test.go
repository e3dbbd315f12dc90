package policy_test

import "net/netip"

// netipFor gives bitaxes (group 3) an address inside their prefix and others one outside.
func netipFor(group, k int) netip.Addr {
	if group == 3 {
		return netip.AddrFrom4([4]byte{10, 9, 0, byte(k + 1)})
	}
	return netip.AddrFrom4([4]byte{10, 1, byte(group), byte(k + 1)})
}
