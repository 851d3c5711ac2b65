// Command baseline is the benchmark's yardstick: a bare net/http server
// that answers every request with one fixed document, the size of the
// credential document tc-credd serves. It does no routing, checking or
// logging, so it bounds what any handler on this machine can do.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address")
	doc := flag.String("doc", "", "file whose bytes every response carries")
	flag.Parse()
	body, err := os.ReadFile(*doc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
}
