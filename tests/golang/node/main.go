// Command node is a golang/groupcache node for the interop test
// (tests/golang_interop.rs): one group on an HTTPPool, loading from an
// HTTP origin, built by scripts/test-golang against Debian's
// golang-github-golang-groupcache-dev (GOPATH mode, nothing fetched).
//
//	node -listen 127.0.0.1:8001 -self http://127.0.0.1:8001 \
//	     -peers http://127.0.0.1:8001,http://127.0.0.1:8002 \
//	     -group g -origin http://127.0.0.1:9000/k/
//
// On -listen it serves the pool's peer protocol (/_groupcache/) and, for
// the test:
//
//	GET /get?key=K    the group's Get (may fetch from the owner): 200 and
//	                  the value, or 500 and the error
//	GET /owner?key=K  the peer URL golang/groupcache's ring names for K
//	GET /served       the keys this node was asked for over the peer
//	                  protocol, one a line (as its server decoded them)
//	GET /healthz      200 once serving
//
// With -print-owners it reads keys from stdin, one a line, prints
// "KEY<TAB>OWNER" for each (the ring of -peers) and exits.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/consistenthash"
)

// replicas is HTTPPool's default, spelled out for the -owner ring.
const replicas = 50

func main() {
	listen := flag.String("listen", "", "address to serve on (host:port)")
	self := flag.String("self", "", "this node's peer URL, as in -peers")
	peers := flag.String("peers", "", "every peer URL, comma-separated")
	group := flag.String("group", "g", "the group's name")
	origin := flag.String("origin", "", "URL prefix of the source; the path-escaped key is appended")
	cacheBytes := flag.Int64("cache-bytes", 64<<20, "the group's cache budget")
	printOwners := flag.Bool("print-owners", false, "print the owner of each key read from stdin and exit")
	flag.Parse()

	list := strings.Split(*peers, ",")
	ring := consistenthash.New(replicas, nil)
	ring.Add(list...)
	if *printOwners {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			fmt.Printf("%s\t%s\n", in.Text(), ring.Get(in.Text()))
		}
		return
	}
	if *listen == "" || *self == "" || *origin == "" {
		log.Fatal("need -listen, -self, -peers and -origin")
	}

	mux := http.NewServeMux()
	pool := groupcache.NewHTTPPoolOpts(*self, &groupcache.HTTPPoolOptions{Replicas: replicas})
	pool.Set(list...)
	var servedMu sync.Mutex
	served := map[string]bool{}
	mux.HandleFunc("/_groupcache/", func(w http.ResponseWriter, r *http.Request) {
		// The key as HTTPPool reads it: the decoded path after GROUP/.
		if parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/_groupcache/"), "/", 2); len(parts) == 2 {
			servedMu.Lock()
			served[parts[1]] = true
			servedMu.Unlock()
		}
		pool.ServeHTTP(w, r)
	})
	mux.HandleFunc("/served", func(w http.ResponseWriter, r *http.Request) {
		servedMu.Lock()
		defer servedMu.Unlock()
		for key := range served {
			fmt.Fprintln(w, key)
		}
	})

	client := &http.Client{Timeout: 5 * time.Second}
	g := groupcache.NewGroup(*group, *cacheBytes, groupcache.GetterFunc(
		func(ctx context.Context, key string, dest groupcache.Sink) error {
			res, err := client.Get(*origin + url.PathEscape(key))
			if err != nil {
				return err
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				return err
			}
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("origin answered %s", res.Status)
			}
			return dest.SetBytes(body)
		}))

	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		var value []byte
		err := g.Get(r.Context(), r.URL.Query().Get("key"), groupcache.AllocatingByteSliceSink(&value))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(value)
	})
	mux.HandleFunc("/owner", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, ring.Get(r.URL.Query().Get("key")))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	log.Printf("serving %s as %s in %s", *listen, *self, *peers)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
