package firmware

// LuxProfilesTTL lets the driver tests age a LuxOS profile table.
const LuxProfilesTTL = luxProfilesTTL
