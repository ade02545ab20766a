// An example backend behind mtgate's upstream bridge (proto/mtgate_upstream.proto): sign-in with a
// phone number, users, private messages pushed through mtgate's Mtgate service. examples/README.md
// is its contract.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"

	pb "mtgate.example/backend/upstreampb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:50051", "host:port to serve mtgate.upstream.v1.Upstream on")
	mtgate := flag.String("mtgate", "127.0.0.1:7801", "host:port of mtgate's Mtgate service (config backend_api)")
	statePath := flag.String("state", "backend-state.json", "JSON file of users and messages")
	delayMs := flag.Int("delay-ms", 0, "every call waits this long before it is handled")
	flag.Parse()
	log.SetOutput(os.Stderr)
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	state, err := LoadState(*statePath)
	if err != nil {
		log.Fatalf("state: %v", err)
	}
	pusher, err := NewPusher(*mtgate)
	if err != nil {
		log.Fatalf("mtgate %s: %v", *mtgate, err)
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	srv := grpc.NewServer()
	pb.RegisterUpstreamServer(srv, &Backend{state: state, delay: time.Duration(*delayMs) * time.Millisecond, pusher: pusher})

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		log.Printf("stopping")
		srv.Stop()
	}()
	fmt.Printf("listening %s\n", lis.Addr())
	log.Printf("serving on %s (%d users), mtgate at %s, delay %d ms", lis.Addr(), len(state.Users), *mtgate, *delayMs)
	if err := srv.Serve(lis); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
