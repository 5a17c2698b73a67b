package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/pkg/controller/bootstrap"
	"k8s.io/kubernetes/pkg/controller/certificates/rootcacertpublisher"
)

// runControllers runs the two kube-controller-manager controllers the enrollment service depends
// on, from their own packages: the bootstrap TokenCleaner (deletes expired bootstrap-token
// Secrets; --controllers=tokencleaner) and the root-ca-cert-publisher (kube-root-ca.crt in every
// namespace). The rest of the controller manager is not needed and not built.
func runControllers(args []string) int {
	fs := flag.NewFlagSet("controllers", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the API server")
	rootCAFile := fs.String("root-ca-file", "", "CA bundle published as kube-root-ca.crt")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "controllers:", err); return 1 }
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fail(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	rootCA, err := os.ReadFile(*rootCAFile)
	if err != nil {
		return fail(err)
	}
	factory := informers.NewSharedInformerFactory(client, 10*time.Minute)
	tc, err := bootstrap.NewTokenCleaner(client, factory.Core().V1().Secrets(), bootstrap.DefaultTokenCleanerOptions())
	if err != nil {
		return fail(err)
	}
	pub, err := rootcacertpublisher.NewPublisher(factory.Core().V1().ConfigMaps(), factory.Core().V1().Namespaces(), client, rootCA)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	factory.Start(ctx.Done())
	go pub.Run(ctx, 1)
	tc.Run(ctx)
	return 0
}
