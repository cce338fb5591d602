// Command upstream is the backend of the load runs in bench/: it answers
// every request 200 with a small JSON body, as fast as net/http can.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18090", "address to listen on")
	flag.Parse()
	body := []byte(`{"code":"00000","msg":"成功","data":{}}`)
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})))
}
