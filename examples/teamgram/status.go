package main

// The status service (status.RPCStatus, statuspb from proto/teamgram/status/status.tl.proto) as
// Teamgram's keeps it in Redis: per user, the online sessions by auth_key_id, each with its expiry
// (SessionEntry.expired, unix seconds); an expired entry is not listed and is removed when seen.

import (
	"context"
	"sync"
	"time"

	"github.com/teamgram/proto/mtproto"
	"mtgate.example/teamgram/statuspb"
)

type statusService struct {
	statuspb.UnimplementedRPCStatusServer
	mu    sync.Mutex
	users map[int64]map[int64]*statuspb.SessionEntry
}

func newStatus() *statusService {
	return &statusService{users: map[int64]map[int64]*statuspb.SessionEntry{}}
}

func (s *statusService) StatusSetSessionOnline(_ context.Context, r *statuspb.TLStatusSetSessionOnline) (*mtproto.Bool, error) {
	e := r.GetSession()
	if r.GetUserId() == 0 || e == nil || e.GetAuthKeyId() == 0 {
		return mtproto.BoolFalse, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.users[r.GetUserId()]
	if m == nil {
		m = map[int64]*statuspb.SessionEntry{}
		s.users[r.GetUserId()] = m
	}
	m[e.GetAuthKeyId()] = e
	return mtproto.BoolTrue, nil
}

func (s *statusService) StatusSetSessionOffline(_ context.Context, r *statuspb.TLStatusSetSessionOffline) (*mtproto.Bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users[r.GetUserId()], r.GetAuthKeyId())
	return mtproto.BoolTrue, nil
}

func (s *statusService) StatusGetUserOnlineSessions(_ context.Context, r *statuspb.TLStatusGetUserOnlineSessions) (*statuspb.UserSessionEntryList, error) {
	now := time.Now().Unix()
	out := &statuspb.UserSessionEntryList{
		PredicateName: "userSessionEntryList",
		Constructor:   statuspb.TLConstructor_CRC32_userSessionEntryList,
		UserId:        r.GetUserId(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.users[r.GetUserId()] {
		if e.GetExpired() < now {
			delete(s.users[r.GetUserId()], id)
			continue
		}
		out.UserSessions = append(out.UserSessions, e)
	}
	return out, nil
}
