package main

import (
	"context"
	"log"
	"time"

	"github.com/gotd/td/tg"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "mtgate.example/backend/upstreampb"
)

// How long one Mtgate.Push may take.
const pushTimeout = 5 * time.Second

type push struct {
	userID int64
	except int64
	update *tg.UpdateShortMessage
}

// Pusher sends updates to mtgate's Mtgate service one at a time, in the order they were made (so a
// client sees its pts go up in order).
type Pusher struct {
	client pb.MtgateClient
	queue  chan push
}

// NewPusher dials mtgate (lazily: the connection is made on the first push) and starts the sender.
func NewPusher(addr string) (*Pusher, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	p := &Pusher{client: pb.NewMtgateClient(conn), queue: make(chan push, 1024)}
	go p.run()
	return p, nil
}

// Push queues an update for every session of user (but those of auth key `except`, when not 0).
func (p *Pusher) Push(user, except int64, u *tg.UpdateShortMessage) {
	select {
	case p.queue <- push{user, except, u}:
	default:
		log.Printf("push to user %d dropped: queue full", user)
	}
}

func (p *Pusher) run() {
	for it := range p.queue {
		data, err := boxed(it.update)
		if err != nil {
			log.Printf("push to user %d: %v", it.userID, err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
		r, err := p.client.Push(ctx, &pb.PushUpdatesRequest{Target: &pb.PushUpdatesRequest_UserId{UserId: it.userID}, Updates: data, ExceptAuthKeyId: it.except})
		cancel()
		if err != nil {
			log.Printf("push to user %d failed: %v", it.userID, err)
			continue
		}
		log.Printf("push to user %d (pts %d): %d sessions", it.userID, it.update.Pts, r.GetSessions())
	}
}
