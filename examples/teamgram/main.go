// Command teamgram is a small fake Teamgram deployment behind mtgate: BFF services built from
// Teamgram's own generated gRPC interfaces and TL helpers (github.com/teamgram/proto), keys and
// bindings in Teamgram's authsession tables, a status service keeping the online sessions, and
// pushes to the session services the way Teamgram's sync service makes them. See README.md.
//
//	teamgram serve     --mysql DSN --listen HOST:PORT --etcd HOST:PORT [--session-key KEY] --dc ID:HOST:PORT
//	teamgram read-key  --mysql DSN --id AUTH_KEY_ID
//	teamgram write-key --mysql DSN --phone PHONE
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	_ "github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"
	"mtgate.example/teamgram/statuspb"
)

func main() {
	log.SetFlags(log.Lmicroseconds)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: teamgram serve|read-key|write-key [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	dsn := fs.String("mysql", "", "MySQL DSN of Teamgram's database (go-sql-driver form: user:pass@tcp(host:port)/db)")
	listen := fs.String("listen", "127.0.0.1:20450", "serve: where the BFF services listen")
	etcd := fs.String("etcd", "", "serve: etcd (host:port) where the session services are registered")
	sessionKey := fs.String("session-key", "interface.session", "serve: the session services' etcd key (Teamgram's interface.session)")
	dc := fs.String("dc", "1:127.0.0.1:443", "serve: this_dc and its address for help.getConfig, ID:HOST:PORT")
	id := fs.Int64("id", 0, "read-key: the auth_key_id")
	phone := fs.String("phone", "", "write-key: the phone whose user the new key is bound to")
	_ = fs.Parse(os.Args[2:])
	if *dsn == "" {
		log.Fatal("--mysql is required")
	}
	db, err := sql.Open("mysql", *dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	auth := &authsession{db: db}
	ctx := context.Background()
	switch mode {
	case "serve":
		err = serve(auth, *listen, *etcd, *sessionKey, *dc)
	case "read-key":
		err = readKey(ctx, auth, *id)
	case "write-key":
		err = writeKey(ctx, auth, *phone)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func parseDc(s string) (dcOption, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 {
		return dcOption{}, fmt.Errorf("--dc %q: want ID:HOST:PORT", s)
	}
	id, err1 := strconv.Atoi(parts[0])
	port, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return dcOption{}, fmt.Errorf("--dc %q: want ID:HOST:PORT", s)
	}
	return dcOption{ID: int32(id), Host: parts[1], Port: int32(port)}, nil
}

// serve runs the BFF and the status service (status.RPCStatus, on the same address) until
// SIGTERM/SIGINT; prints `listening HOST:PORT` on stdout once it serves.
func serve(auth *authsession, listen, etcd, sessionKey, dcFlag string) error {
	if etcd == "" {
		return fmt.Errorf("--etcd is required")
	}
	dc, err := parseDc(dcFlag)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	p, err := newPusher(lis.Addr().String(), etcd, sessionKey)
	if err != nil {
		return err
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(logged), grpc.UnknownServiceHandler(notImplemented))
	register(s, &bff{auth: auth, boxes: newBoxes(), push: p, dc: dc, codes: map[string]string{}})
	statuspb.RegisterRPCStatusServer(s, newStatus())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		s.GracefulStop()
	}()
	fmt.Printf("listening %s\n", lis.Addr())
	return s.Serve(lis)
}
