package observer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/recount-vote/recount/election"
)

// The observer's own file, DIR/observer.db, a bbolt file with two buckets:
//
//	meta      "verified" = uint64be(the number of mirror entries replayed, their failures recorded)
//	          "cosigned" = the latest witnessed checkpoint of the mirror's history the observer served (the
//	                       node's signed checkpoint and the witnesses' cosignature lines, docs/witness.md
//	                       section 3), checked again when read back
//	failures  uint64be(entry) || uint32be(check) -> JSON {"reason": ..., "more": ...}
//
// A replayed batch's failures and the new verified size are written in one transaction, synced before the
// observer reports them, so that after a crash the entries past "verified" are checked again in full and
// those before it are not (their stateless failures are read back from here).

const storeFileName = "observer.db"

var (
	bucketMeta     = []byte("meta")
	bucketFailures = []byte("failures")
	keyVerified    = []byte("verified")
	keyCosigned    = []byte("cosigned")
)

type store struct {
	db *bolt.DB
}

func openStore(path string) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("observer: open %s: %w (is another observer running on this directory?)", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketFailures} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("observer: open %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

type storedFailure struct {
	Reason string `json:"reason"`
	More   uint64 `json:"more,omitempty"`
}

func failureKey(entry uint64, c election.Check) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint64(k, entry)
	binary.BigEndian.PutUint32(k[8:], uint32(c))
	return k
}

// load returns the verified size and every recorded failure, in entry order.
func (s *store) load() (verified uint64, failures []*election.CheckError, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyVerified); len(v) == 8 {
			verified = binary.BigEndian.Uint64(v)
		} else if v != nil {
			return fmt.Errorf("observer: %s: the verified size is %d bytes, not 8", storeFileName, len(v))
		}
		return tx.Bucket(bucketFailures).ForEach(func(k, v []byte) error {
			if len(k) != 12 {
				return fmt.Errorf("observer: %s: a failure key of %d bytes", storeFileName, len(k))
			}
			var f storedFailure
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("observer: %s: failure at entry %d: %w", storeFileName, binary.BigEndian.Uint64(k), err)
			}
			failures = append(failures, &election.CheckError{Entry: binary.BigEndian.Uint64(k), Check: election.Check(binary.BigEndian.Uint32(k[8:])),
				Reason: f.Reason, More: f.More})
			return nil
		})
	})
	return verified, failures, err
}

// save records that the mirror is replayed up to verified, with the failures found on the way.
func (s *store) save(verified uint64, failures []*election.CheckError) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		fb := tx.Bucket(bucketFailures)
		for _, f := range failures {
			v, err := json.Marshal(storedFailure{Reason: f.Reason, More: f.More})
			if err != nil {
				return err
			}
			if err := fb.Put(failureKey(f.Entry, f.Check), v); err != nil {
				return err
			}
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], verified)
		return tx.Bucket(bucketMeta).Put(keyVerified, b[:])
	})
}

// saveCosigned records the cosigned checkpoint the observer serves, synced, so that it serves it again after a
// restart before the node is reached.
func (s *store) saveCosigned(cosigned []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyCosigned, cosigned) })
}

// loadCosigned returns the recorded cosigned checkpoint, nil if none.
func (s *store) loadCosigned() (cosigned []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		cosigned = bytes.Clone(tx.Bucket(bucketMeta).Get(keyCosigned))
		return nil
	})
	return cosigned, err
}
