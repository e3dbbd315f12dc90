package sv1

// Method names (sv1.md section 3).
const (
	MethodConfigure           = "mining.configure"            // C→S, BIP310 (3.1)
	MethodSubscribe           = "mining.subscribe"            // C→S (3.2)
	MethodAuthorize           = "mining.authorize"            // C→S (3.3)
	MethodExtranonceSubscribe = "mining.extranonce.subscribe" // C→S (3.4)
	MethodSuggestDifficulty   = "mining.suggest_difficulty"   // C→S (3.5)
	MethodSuggestTarget       = "mining.suggest_target"       // C→S (3.5)
	MethodSetDifficulty       = "mining.set_difficulty"       // S→C (3.6)
	MethodSetVersionMask      = "mining.set_version_mask"     // S→C (3.7)
	MethodSetExtranonce       = "mining.set_extranonce"       // S→C (3.8)
	MethodNotify              = "mining.notify"               // S→C (3.9)
	MethodSubmit              = "mining.submit"               // C→S (3.10)
	MethodReconnect           = "client.reconnect"            // S→C (3.11)
	MethodGetVersion          = "client.get_version"          // S→C request (3.11)
	MethodShowMessage         = "client.show_message"         // S→C (3.11)
	MethodPing                = "mining.ping"                 // S→C request, ckpool (3.11)
	MethodMultiVersion        = "mining.multi_version"        // C→S, Bitmain legacy (3.11)
	MethodGetTransactions     = "mining.get_transactions"     // C→S, legacy (3.11)

	// MethodPong is the method of ESP-Miner's request-shaped reply to
	// mining.ping: {"id":42,"method":"pong","params":[]}.
	MethodPong = "pong"
)

// internMethod returns the constant for a known method name so that decoding
// a hot-path message does not allocate a new string for its method.
func internMethod(b []byte) (string, bool) {
	switch string(b) {
	case MethodSubmit:
		return MethodSubmit, true
	case MethodNotify:
		return MethodNotify, true
	case MethodSetDifficulty:
		return MethodSetDifficulty, true
	case MethodConfigure:
		return MethodConfigure, true
	case MethodSubscribe:
		return MethodSubscribe, true
	case MethodAuthorize:
		return MethodAuthorize, true
	case MethodExtranonceSubscribe:
		return MethodExtranonceSubscribe, true
	case MethodSuggestDifficulty:
		return MethodSuggestDifficulty, true
	case MethodSuggestTarget:
		return MethodSuggestTarget, true
	case MethodSetVersionMask:
		return MethodSetVersionMask, true
	case MethodSetExtranonce:
		return MethodSetExtranonce, true
	case MethodReconnect:
		return MethodReconnect, true
	case MethodGetVersion:
		return MethodGetVersion, true
	case MethodShowMessage:
		return MethodShowMessage, true
	case MethodPing:
		return MethodPing, true
	case MethodPong:
		return MethodPong, true
	case MethodMultiVersion:
		return MethodMultiVersion, true
	case MethodGetTransactions:
		return MethodGetTransactions, true
	}
	return "", false
}
