// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3 as a
// library so that it can be compiled with a plain `go build` (etcd's own
// repository uses replace directives, which `go install pkg@version` rejects).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
