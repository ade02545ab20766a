package main

// Pushes to the session service (mtgate's, config `teamgram.session_service`) the way Teamgram's sync
// service does: session.RPCSession/session_pushUpdatesData, one call per permanent key of the user,
// the keys taken from authsession's auth_users (Teamgram's sync asks its status service for the
// user's online sessions; every bound key is the same set when each key has a session).

import (
	"context"
	"log"

	"github.com/teamgram/proto/mtproto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"mtgate.example/teamgram/sessionpb"
)

type pusher struct {
	auth    *authsession
	session sessionpb.RPCSessionClient
}

func newPusher(auth *authsession, addr string) (*pusher, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &pusher{auth: auth, session: sessionpb.NewRPCSessionClient(conn)}, nil
}

// toUser pushes `u` to every permanent key bound to the user but `except` (0: none).
func (p *pusher) toUser(ctx context.Context, userID, except int64, u *mtproto.Updates) {
	keys, err := p.auth.UserAuthKeys(ctx, userID)
	if err != nil {
		log.Printf("push to user %d: auth_users: %v", userID, err)
		return
	}
	for _, k := range keys {
		if k == except {
			continue
		}
		_, err := p.session.SessionPushUpdatesData(context.WithoutCancel(ctx), &sessionpb.TLSessionPushUpdatesData{
			PermAuthKeyId: k,
			Notification:  true,
			Updates:       u,
		})
		log.Printf("session_pushUpdatesData perm_auth_key_id=%d user=%d err=%v", k, userID, err)
	}
}
