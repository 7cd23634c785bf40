module github.com/recount-vote/recount

go 1.26

require (
	filippo.io/edwards25519 v1.2.0
	github.com/cloudflare/circl v1.6.5
	golang.org/x/sys v0.47.0
)

require (
	github.com/bwesterb/go-ristretto v1.2.4 // indirect
	golang.org/x/crypto v0.54.0 // indirect
)
