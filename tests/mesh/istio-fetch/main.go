// Command istio-fetch pulls a Wasm module the way istio-agent does, with Istio's own image fetcher
// (istio.io/istio/pkg/wasm), and prints what it got as one JSON line. graft's tests use it to prove
// that `graft push` produces an image Istio accepts, byte for byte.
//
//	istio-fetch [-insecure] [-pull-secret file] <registry/repo:tag|@sha256:…>
//
// Output: {"manifestDigest":"<hex>","sha256":"<hex of the module>","size":N,"out":"<file>"} and exit 0,
// or {"error":"…"} on stdout and exit 1. -out writes the module bytes to a file.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"istio.io/istio/pkg/wasm"
)

type result struct {
	ManifestDigest string `json:"manifestDigest,omitempty"`
	Sha256         string `json:"sha256,omitempty"`
	Size           int    `json:"size,omitempty"`
	Out            string `json:"out,omitempty"`
	Error          string `json:"error,omitempty"`
}

func main() {
	insecure := flag.Bool("insecure", true, "skip TLS verification (plain HTTP on loopback works either way)")
	pullSecret := flag.String("pull-secret", "", "a docker config JSON file, as in WasmPlugin.imagePullSecret")
	out := flag.String("out", "", "write the pulled module here")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	if flag.NArg() != 1 {
		emit(result{Error: "usage: istio-fetch [-insecure] [-pull-secret file] [-out file] <registry/repo:tag>"})
	}
	var secret []byte
	if *pullSecret != "" {
		b, err := os.ReadFile(*pullSecret)
		if err != nil {
			emit(result{Error: err.Error()})
		}
		secret = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	fetcher := wasm.NewImageFetcher(ctx, wasm.ImageFetcherOption{PullSecret: secret, Insecure: *insecure})
	fetch, manifestDigest, err := fetcher.PrepareFetch(flag.Arg(0))
	if err != nil {
		emit(result{Error: fmt.Sprintf("prepare: %v", err)})
	}
	module, err := fetch()
	if err != nil {
		emit(result{Error: fmt.Sprintf("fetch: %v", err)})
	}
	sum := sha256.Sum256(module)
	if *out != "" {
		if err := os.WriteFile(*out, module, 0o644); err != nil {
			emit(result{Error: err.Error()})
		}
	}
	emit(result{ManifestDigest: manifestDigest, Sha256: hex.EncodeToString(sum[:]), Size: len(module), Out: *out})
}

func emit(r result) {
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	if r.Error != "" {
		os.Exit(1)
	}
	os.Exit(0)
}
