//go:build !(js && wasm)

// Command booth-wasm is the voting page's WebAssembly; it runs only in a browser: .ci/build-wasm builds it with
// GOOS=js GOARCH=wasm into web/app/static/booth.wasm.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "booth-wasm runs in a browser: build it with .ci/build-wasm (GOOS=js GOARCH=wasm)")
	os.Exit(2)
}
