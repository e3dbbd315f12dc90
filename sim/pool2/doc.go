// Package pool2 is a Stratum V2 mining pool simulator that speaks the real protocol byte for
// byte: a Noise NX responder with a static key certified by its own authority key, the Common
// and Mining messages of sv2-spec, standard and extended channels, jobs cut from realistic
// block templates (sim/template) sent as future jobs with SetNewPrevHash, SetTarget, and every
// share validated by the rules SRI pools apply (channel, job, extranonce size, ntime window,
// version bits, duplicates, target) through stratum/work.
//
// It can send coinbases with or without BIP141 witness data (older SRI pools still send it),
// reject everything, or stall. hashgate's tests and demo point the proxy's SV2 upstream at it.
package pool2
