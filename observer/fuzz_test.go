package observer

import (
	"encoding/json"
	"testing"
)

// FuzzCheckAlarm: any file given to CheckAlarm gets an answer, never a panic; one it accepts names two
// checkpoints that verify.
func FuzzCheckAlarm(f *testing.F) {
	f.Add([]byte(`{"kind":"same-size","origin":"x","verifier_key":"y","held":"a","shown":"b"}`))
	f.Add([]byte(`{"kind":"rollback","held_root_at_shown_size":"AAAA","proof":["AAAA"]}`))
	f.Add([]byte(`{"kind":"not-extending","proof":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := CheckAlarm(data)
		if err == nil {
			if a == nil || a.Held == "" || a.Shown == "" {
				t.Fatalf("accepted %q", data)
			}
			if _, err := json.Marshal(a); err != nil {
				t.Fatal(err)
			}
		}
	})
}
