// etcd 3.6 for the mesh end-to-end suite. The root module go.etcd.io/etcd/v3 carries replace directives
// (so `go install` refuses it); the server module's etcdmain is the same entry point the etcd binary uses.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
