package main

// Pushes the way Teamgram's sync service does (app/messenger/sync/internal/core/core.go,
// dao/session_client.go): the user's online sessions from the status service
// (status_getUserOnlineSessions), grouped by their Gateway; each gateway is a session service that
// must be registered in etcd under --session-key (go-zero's discov: keys <key>/<lease id> holding a
// host:port, the value being the server id); each session gets session_pushUpdatesData with its
// auth_key_id as perm_auth_key_id. etcd is read through its JSON gateway (/v3/kv/range).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/teamgram/proto/mtproto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"mtgate.example/teamgram/sessionpb"
	"mtgate.example/teamgram/statuspb"
)

type pusher struct {
	status     statuspb.RPCStatusClient
	etcd       string
	sessionKey string
	mu         sync.Mutex
	sessions   map[string]sessionpb.RPCSessionClient
}

func newPusher(statusAddr, etcd, sessionKey string) (*pusher, error) {
	conn, err := grpc.NewClient(statusAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &pusher{status: statuspb.NewRPCStatusClient(conn), etcd: etcd, sessionKey: sessionKey, sessions: map[string]sessionpb.RPCSessionClient{}}, nil
}

// servers reads the session services registered under <sessionKey>/.
func (p *pusher) servers(ctx context.Context) (map[string]bool, error) {
	prefix := []byte(p.sessionKey + "/")
	end := append([]byte{}, prefix...)
	end[len(end)-1]++
	body, _ := json.Marshal(map[string]string{"key": base64.StdEncoding.EncodeToString(prefix), "range_end": base64.StdEncoding.EncodeToString(end)})
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+p.etcd+"/v3/kv/range", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("etcd range: %s", res.Status)
	}
	var r struct {
		Kvs []struct{ Value []byte } `json:"kvs"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, kv := range r.Kvs {
		out[string(kv.Value)] = true
	}
	return out, nil
}

// session is the client of the session service registered as `serverID`.
func (p *pusher) session(serverID string) (sessionpb.RPCSessionClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.sessions[serverID]; c != nil {
		return c, nil
	}
	conn, err := grpc.NewClient(serverID, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	c := sessionpb.NewRPCSessionClient(conn)
	p.sessions[serverID] = c
	return c, nil
}

// toUser pushes `u` to every online session of the user but the one of key `except` (0: none).
func (p *pusher) toUser(ctx context.Context, userID, except int64, u *mtproto.Updates) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	list, err := p.status.StatusGetUserOnlineSessions(ctx, &statuspb.TLStatusGetUserOnlineSessions{UserId: userID})
	if err != nil {
		log.Printf("push to user %d: status_getUserOnlineSessions: %v", userID, err)
		return
	}
	byGateway := map[string][]int64{}
	for _, s := range list.GetUserSessions() {
		if s.GetAuthKeyId() != except {
			byGateway[s.GetGateway()] = append(byGateway[s.GetGateway()], s.GetAuthKeyId())
		}
	}
	if len(byGateway) == 0 {
		log.Printf("push to user %d: no online session", userID)
		return
	}
	registered, err := p.servers(ctx)
	if err != nil {
		log.Printf("push to user %d: etcd %s: %v", userID, p.sessionKey, err)
		return
	}
	for gateway, keys := range byGateway {
		if !registered[gateway] {
			log.Printf("push to user %d: gateway %s is not registered under %s", userID, gateway, p.sessionKey)
			continue
		}
		c, err := p.session(gateway)
		if err != nil {
			log.Printf("push to user %d: session %s: %v", userID, gateway, err)
			continue
		}
		for _, k := range keys {
			_, err := c.SessionPushUpdatesData(ctx, &sessionpb.TLSessionPushUpdatesData{PermAuthKeyId: k, Notification: true, Updates: u})
			log.Printf("session_pushUpdatesData gateway=%s perm_auth_key_id=%d user=%d err=%v", gateway, k, userID, err)
		}
	}
}
