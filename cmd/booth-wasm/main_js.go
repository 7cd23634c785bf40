//go:build js && wasm

// Command booth-wasm is the voting page's WebAssembly: package booth's functions for the page's script, on
// globalThis.recountBooth, each returning a Promise of its answer's JSON (a string), or rejected with a
// booth.Problem's JSON. .ci/build-wasm builds it into web/app/static/booth.wasm.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"syscall/js"
	"time"

	"github.com/recount-vote/recount/client/booth"
)

// callTimeout bounds one function's work, the node's calls included.
const callTimeout = 2 * time.Minute

func main() {
	b := booth.New("")
	api := js.Global().Get("Object").New()
	export := func(name string, fn func(ctx context.Context, args []js.Value) (any, error)) {
		api.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any {
			return promise(func() (any, error) {
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				defer cancel()
				return fn(ctx, args)
			})
		}))
	}
	str := func(args []js.Value, i int) string {
		if i < len(args) && args[i].Type() == js.TypeString {
			return args[i].String()
		}
		return ""
	}
	export("election", func(ctx context.Context, _ []js.Value) (any, error) { return b.Election(ctx) })
	export("loadCredential", func(ctx context.Context, args []js.Value) (any, error) { return b.LoadCredential(ctx, str(args, 0)) })
	export("prepare", func(ctx context.Context, args []js.Value) (any, error) {
		var choices [][]uint64
		if err := json.Unmarshal([]byte(str(args, 0)), &choices); err != nil {
			return nil, &booth.Problem{Message: "The page sent choices that are not a list of numbers per contest.", Detail: err.Error()}
		}
		return b.Prepare(ctx, choices)
	})
	export("challenge", func(ctx context.Context, _ []js.Value) (any, error) { return b.Challenge(ctx) })
	export("cast", func(ctx context.Context, _ []js.Value) (any, error) { return b.Cast(ctx) })
	export("checkReceipt", func(ctx context.Context, args []js.Value) (any, error) { return b.CheckReceipt(ctx, str(args, 0)) })
	export("results", func(ctx context.Context, _ []js.Value) (any, error) { return b.Results(ctx) })
	export("seen", func(ctx context.Context, _ []js.Value) (any, error) { return b.Seen(), nil })
	export("restoreSeen", func(ctx context.Context, args []js.Value) (any, error) {
		var s booth.Seen
		if err := json.Unmarshal([]byte(str(args, 0)), &s); err != nil {
			return false, nil // a damaged saved state is ignored, as none
		}
		return b.Restore(ctx, s)
	})
	js.Global().Set("recountBooth", api)
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("recountbooth"))
	select {}
}

// promise runs fn in a goroutine (a Go function called from JavaScript must not block: the node's calls wait
// for fetch) and returns a Promise of its answer as JSON, rejected with a Problem's JSON.
func promise(fn func() (any, error)) js.Value {
	var resolve, reject js.Value
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject = args[0], args[1]
		return nil
	})
	p := js.Global().Get("Promise").New(executor)
	executor.Release()
	go func() {
		v, err := fn()
		if err != nil {
			var pr *booth.Problem
			if !errors.As(err, &pr) {
				pr = &booth.Problem{Message: "Something went wrong.", Detail: err.Error()}
			}
			b, _ := json.Marshal(pr)
			reject.Invoke(string(b))
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			reject.Invoke(`{"message":"The page could not encode an answer."}`)
			return
		}
		resolve.Invoke(string(b))
	}()
	return p
}
