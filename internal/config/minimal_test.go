package config

// minimalFile is the smallest file hashgate accepts: one listener and one pool. Tests add the
// sections they are about.
const minimalFile = `
[[listener]]
protocol = "sv1"
address = "0.0.0.0:3333"
[[pool]]
name = "main"
url = "stratum+tcp://pool.example.com:3333"
user = "acct"
`
