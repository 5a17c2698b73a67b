// Command oracle is the real Kubernetes control plane the dev cluster is measured against:
// one binary, built from the pinned Go modules in go.mod, that runs as
//
//	oracle etcd [etcd flags]        etcd's own main (go.etcd.io/etcd/server/v3/etcdmain)
//	oracle kube-apiserver [flags]   kube-apiserver's own command (k8s.io/kubernetes/cmd/kube-apiserver/app)
//	oracle controllers [flags]      kube-controller-manager's tokencleaner and root-ca-cert-publisher
//
// Nothing here changes their behaviour; this file only dispatches on the first argument.
package main

import (
	"fmt"
	"os"

	_ "time/tzdata"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oracle etcd|kube-apiserver|controllers [flags]")
		os.Exit(2)
	}
	sub, rest := os.Args[1], os.Args[2:]
	switch sub {
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, rest...))
	case "kube-apiserver":
		cmd := app.NewAPIServerCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "controllers":
		os.Exit(runControllers(rest))
	default:
		fmt.Fprintf(os.Stderr, "oracle: unknown command %q\n", sub)
		os.Exit(2)
	}
}
