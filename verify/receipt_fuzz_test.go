package verify

import (
	"os"
	"testing"
)

func FuzzParseReceipt(f *testing.F) {
	for _, name := range []string{"small-receipt-counted.json", "small-receipt-spoiled.json", "small-receipt-superseded.json"} {
		if b, err := os.ReadFile("../testdata/" + name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReceipt(data)
		if err != nil {
			return
		}
		again, err := ParseReceipt(r.Marshal())
		if err != nil || again.TrackingCode != r.TrackingCode || again.Index != r.Index || again.Kind != r.Kind {
			t.Fatalf("an accepted receipt does not round-trip: %v", err)
		}
	})
}
