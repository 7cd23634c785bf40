package client

import (
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/ledger/tlog"
)

// StreamedEntry returns the board entry a StreamEntries message carries, as the node read it from its board: the
// client's one translation of a streamed entry, which election.FromBoard turns into an election entry.
func StreamedEntry(m *recountv1.StreamEntriesResponse) tlog.Entry {
	return tlog.Entry{Index: m.Index, Kind: tlog.Kind(m.Kind), Payload: m.Payload}
}
