//go:build js && wasm

package webnode

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"
)

// defaultTransport is the page's fetch.
var defaultTransport Transport = fetchTransport{}

// fetchTransport carries the calls with the browser's fetch, called directly: net/http would do the same through
// its own fetch-based transport, and weigh a third of the WebAssembly.
type fetchTransport struct{}

func (fetchTransport) RoundTrip(ctx context.Context, method, url string, body []byte, maxBytes int64) (int, []byte, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("method", method)
	opts.Set("cache", "no-store")
	opts.Set("credentials", "same-origin")
	opts.Set("redirect", "error")
	if body != nil {
		headers := js.Global().Get("Object").New()
		headers.Set("Content-Type", "application/json")
		opts.Set("headers", headers)
		arr := js.Global().Get("Uint8Array").New(len(body))
		js.CopyBytesToJS(arr, body)
		opts.Set("body", arr)
	}
	abort := js.Global().Get("AbortController").New()
	opts.Set("signal", abort.Get("signal"))
	resp, err := await(ctx, abort, js.Global().Call("fetch", url, opts))
	if err != nil {
		return 0, nil, err
	}
	status := resp.Get("status").Int()
	if n := resp.Get("headers").Call("get", "Content-Length"); n.Type() == js.TypeString {
		var size int64
		if _, err := fmt.Sscan(n.String(), &size); err == nil && size > maxBytes {
			abort.Call("abort")
			return 0, nil, fmt.Errorf("the answer is larger than %d bytes", maxBytes)
		}
	}
	buf, err := await(ctx, abort, resp.Call("arrayBuffer"))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	arr := js.Global().Get("Uint8Array").New(buf)
	if int64(arr.Length()) > maxBytes {
		return 0, nil, fmt.Errorf("the answer is larger than %d bytes", maxBytes)
	}
	data := make([]byte, arr.Length())
	js.CopyBytesToGo(data, arr)
	return status, data, nil
}

// await waits for promise p to settle, or for ctx to end (then it aborts the fetch and waits for the promise).
func await(ctx context.Context, abort, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: args[0]}
		return nil
	})
	defer onOK.Release()
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "fetch failed"
		if len(args) > 0 && args[0].Truthy() {
			msg = args[0].Call("toString").String()
		}
		done <- result{err: errors.New(msg)}
		return nil
	})
	defer onErr.Release()
	p.Call("then", onOK, onErr)
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		abort.Call("abort")
		<-done
		return js.Value{}, ctx.Err()
	}
}
