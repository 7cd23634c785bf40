package transcript

import (
	"bytes"
	"testing"
)

// BenchmarkRangeProofTranscript hashes a {0, 1} range proof's transcript: label, election, context, K, A, B,
// min, max and four commitments.
func BenchmarkRangeProofTranscript(b *testing.B) {
	election := bytes.Repeat([]byte{1}, 32)
	el := bytes.Repeat([]byte{2}, 32)
	for b.Loop() {
		t := New("recount/range-proof/v1", election)
		t.AppendBytes("context", []byte("credential, contest 1, option 2"))
		t.AppendBytes("K", el)
		t.AppendBytes("A", el)
		t.AppendBytes("B", el)
		t.AppendUint64("min", 0)
		t.AppendUint64("max", 1)
		for i := 0; i < 2; i++ {
			t.AppendBytes("a", el)
			t.AppendBytes("b", el)
		}
		t.Challenge("c")
	}
}
