//go:build !(js && wasm)

package webnode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// defaultTransport is net/http's default client.
var defaultTransport Transport = HTTPTransport{}

// HTTPTransport carries the calls with net/http.
type HTTPTransport struct {
	// Client is the client of the calls; http.DefaultClient when nil.
	Client *http.Client
}

// RoundTrip implements Transport.
func (t HTTPTransport) RoundTrip(ctx context.Context, method, url string, body []byte, maxBytes int64) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := t.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return 0, nil, fmt.Errorf("the answer is larger than %d bytes", maxBytes)
	}
	return resp.StatusCode, data, nil
}
