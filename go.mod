module github.com/recount-vote/recount

go 1.26.0

require (
	github.com/transparency-dev/merkle v0.0.2
	go.etcd.io/bbolt v1.5.0
	golang.org/x/mod v0.43.0
)

require golang.org/x/sys v0.45.0 // indirect
