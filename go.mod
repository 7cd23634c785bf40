module github.com/recount-vote/recount

go 1.26
