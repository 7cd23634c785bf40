package node_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/recount-vote/recount/node"
)

// TestLateRequestEnds: a unary call whose request never finishes arriving is ended DefaultTimeout after its
// headers, whatever deadline the client declared. A client that declared a 1 MiB CastBallot request and sent 3
// bytes once kept the call and its buffer open for as long as it answered pings, 256 such calls per connection:
// the default deadline was given only once grpc had read the whole request. The client here speaks HTTP/2
// itself, since a gRPC client always sends its whole request.
func TestLateRequestEnds(t *testing.T) {
	tn := startNodeWith(t, t.TempDir(), "", node.ServerOptions{DefaultTimeout: 200 * time.Millisecond})
	for _, tc := range []struct {
		name    string
		timeout string // grpc-timeout, "" for none
	}{
		{"no deadline", ""},
		{"a deadline of an hour", "1H"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", tn.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fr := startHTTP2(t, conn)
			fields := []hpack.HeaderField{
				{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
				{Name: ":path", Value: "/recount.v1.VoterService/CastBallot"}, {Name: ":authority", Value: tn.addr},
				{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
			}
			if tc.timeout != "" {
				fields = append(fields, hpack.HeaderField{Name: "grpc-timeout", Value: tc.timeout})
			}
			var block bytes.Buffer
			enc := hpack.NewEncoder(&block)
			for _, f := range fields {
				if err := enc.WriteField(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
				t.Fatal(err)
			}
			// A gRPC message: not compressed, 1 MiB long; then 3 bytes of it, and nothing more.
			msg := binary.BigEndian.AppendUint32([]byte{0}, 1<<20)
			if err := fr.WriteData(1, false, append(msg, 1, 2, 3)); err != nil {
				t.Fatal(err)
			}
			// The server must end the stream: with trailers carrying a status other than OK, or RST_STREAM.
			if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			for {
				f, err := fr.ReadFrame()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("the call with a request that never arrives was not ended in 10 s")
				}
				if err != nil {
					t.Fatal(err)
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						if err := fr.WriteSettingsAck(); err != nil {
							t.Fatal(err)
						}
					}
				case *http2.PingFrame:
					if !f.IsAck() {
						if err := fr.WritePing(true, f.Data); err != nil {
							t.Fatal(err)
						}
					}
				case *http2.GoAwayFrame:
					t.Fatalf("the server closed the connection (GOAWAY %v) instead of ending the call", f.ErrCode)
				case *http2.RSTStreamFrame:
					t.Logf("ended with RST_STREAM %v", f.ErrCode)
					return
				case *http2.MetaHeadersFrame:
					if !f.StreamEnded() {
						continue // response headers; the trailers end the stream
					}
					if code := f.PseudoValue("status"); code != "" && code != "200" {
						t.Fatalf("HTTP status %s", code)
					}
					st := headerValue(f, "grpc-status")
					if st == "" || st == "0" {
						t.Fatalf("the call ended with grpc-status %q, want an error", st)
					}
					t.Logf("ended with grpc-status %s: %s", st, headerValue(f, "grpc-message"))
					return
				}
			}
		})
	}
}

// startHTTP2 sends the HTTP/2 client preface and an empty SETTINGS frame on conn, and returns a framer on it
// that decodes header blocks.
func startHTTP2(t *testing.T, conn net.Conn) *http2.Framer {
	t.Helper()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr
}

// headerValue returns the value of the header field name in f, "" if it has none.
func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.RegularFields() {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}
