package main

import (
	"context"
	"log"
	"sync"
	"time"

	pb "mtgate.example/backend/upstreampb"
)

// InvokeStream serves the calls of one stream as Invoke serves one call: each request is handled
// on its own goroutine, with its deadline_ms as its deadline, and answered with its call_id.
func (b *Backend) InvokeStream(stream pb.Upstream_InvokeStreamServer) error {
	var send sync.Mutex
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil // the caller closed the stream (or it broke): its calls are its to fail
		}
		go func() {
			ctx, cancel := context.WithDeadline(stream.Context(), time.UnixMilli(req.GetDeadlineMs()))
			defer cancel()
			reply, err := b.Invoke(ctx, req)
			if err != nil {
				return // past its deadline: mtgate answered the client already
			}
			reply.CallId = req.GetCallId()
			send.Lock()
			defer send.Unlock()
			if err := stream.Send(reply); err != nil {
				log.Printf("%s: reply not sent: %v", req.GetMethod(), err)
			}
		}()
	}
}
