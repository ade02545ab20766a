package main

// The BFF services: Teamgram's generated gRPC server interfaces (github.com/teamgram/proto/mtproto,
// one service per group of TL methods) answered with its TL object helpers (MakeTL*). Each call's
// RpcMetadata (the `rpc_metadata` header: auth key, perm key, user) is read as Teamgram's BFFs read it.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log"
	"sync"

	"github.com/teamgram/proto/mtproto"
	"github.com/teamgram/proto/mtproto/rpc/metadata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// loginCode is the code every auth.sendCode "sends".
const loginCode = "12345"

type bff struct {
	auth  *authsession
	boxes *boxes
	push  *pusher
	dc    dcOption
	mu    sync.Mutex
	codes map[string]string // phone_code_hash → phone
}

type dcOption struct {
	ID   int32
	Host string
	Port int32
}

// md is the call's RpcMetadata (an empty one when the header is missing).
func md(ctx context.Context) *metadata.RpcMetadata {
	if m := metadata.RpcMetadataFromIncoming(ctx); m != nil {
		return m
	}
	return &metadata.RpcMetadata{}
}

// signedIn is the caller's user id, or AUTH_KEY_UNREGISTERED for a key with no user.
func signedIn(ctx context.Context) (int64, error) {
	if id := md(ctx).GetUserId(); id != 0 {
		return id, nil
	}
	return 0, mtproto.ErrAuthKeyUnregistered
}

// inputUserID resolves an InputUser against the caller; USER_ID_INVALID for a wrong access_hash.
func inputUserID(self int64, u *mtproto.InputUser) (int64, error) {
	switch u.GetPredicateName() {
	case mtproto.Predicate_inputUserSelf:
		return self, nil
	case mtproto.Predicate_inputUser:
		if u.GetUserId() == self || u.GetAccessHash() == accessHash(u.GetUserId()) {
			return u.GetUserId(), nil
		}
	}
	return 0, mtproto.ErrUserIdInvalid
}

func register(s *grpc.Server, b *bff) {
	mtproto.RegisterRPCConfigurationServer(s, &configuration{b: b})
	mtproto.RegisterRPCAuthorizationServer(s, &authorization{b: b})
	mtproto.RegisterRPCUsersServer(s, &users{b: b})
	mtproto.RegisterRPCMessagesServer(s, &messages{b: b})
	mtproto.RegisterRPCUpdatesServer(s, &updates{b: b})
	mtproto.RegisterRPCUserChannelProfilesServer(s, &profiles{b: b})
}

// logged logs each call: method, key, user, outcome. A method this BFF does not implement is
// answered 400 METHOD_NOT_IMPL, as Teamgram's BFFs answer theirs (mtproto.ErrMethodNotImpl).
func logged(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	m := md(ctx)
	res, err := h(ctx, req)
	if status.Code(err) == codes.Unimplemented {
		err = mtproto.ErrMethodNotImpl
	}
	log.Printf("%s auth_key_id=%d perm=%d user=%d err=%v", info.FullMethod, m.GetAuthId(), m.GetPermAuthKeyId(), m.GetUserId(), err)
	return res, err
}

// notImplemented answers the services this BFF does not register (e.g. RPCDialogs).
func notImplemented(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	log.Printf("%s err=%v", method, mtproto.ErrMethodNotImpl)
	return mtproto.ErrMethodNotImpl
}

type configuration struct {
	mtproto.UnimplementedRPCConfigurationServer
	b *bff
}

// HelpGetConfig: a Config naming the mtgate this BFF sits behind as this_dc and its only dc_option.
func (c *configuration) HelpGetConfig(ctx context.Context, _ *mtproto.TLHelpGetConfig) (*mtproto.Config, error) {
	dc := c.b.dc
	return mtproto.MakeTLConfig(&mtproto.Config{
		Date:     now(),
		Expires:  now() + 3600,
		TestMode: mtproto.BoolFalse,
		ThisDc:   dc.ID,
		// names this BFF as the config's author (mtgate's own help.getConfig says apv3.stel.com)
		DcTxtDomainName: "teamgram-bff.example",
		DcOptions: []*mtproto.DcOption{
			mtproto.MakeTLDcOption(&mtproto.DcOption{Id: dc.ID, IpAddress: dc.Host, Port: dc.Port}).To_DcOption(),
		},
		ChatSizeMax: 200, MegagroupSizeMax: 200000, ForwardedCountMax: 100,
		OnlineUpdatePeriodMs: 210000, OfflineBlurTimeoutMs: 5000, OfflineIdleTimeoutMs: 30000,
		OnlineCloudTimeoutMs: 300000, NotifyCloudDelayMs: 30000, NotifyDefaultDelayMs: 1500,
		PushChatPeriodMs: 60000, PushChatLimit: 2, EditTimeLimit: 172800, RevokeTimeLimit: 172800,
		RevokePmTimeLimit: 172800, RatingEDecay: 2419200, StickersRecentLimit: 200,
		ChannelsReadMediaPeriod: 604800, CallReceiveTimeoutMs: 20000, CallRingTimeoutMs: 90000,
		CallConnectTimeoutMs: 30000, CallPacketTimeoutMs: 10000, MeUrlPrefix: "https://t.me/",
		CaptionLengthMax: 1024, MessageLengthMax: 4096, WebfileDcId: dc.ID,
	}).To_Config(), nil
}

func (c *configuration) HelpGetNearestDc(ctx context.Context, _ *mtproto.TLHelpGetNearestDc) (*mtproto.NearestDc, error) {
	return mtproto.MakeTLNearestDc(&mtproto.NearestDc{Country: "US", ThisDc: c.b.dc.ID, NearestDc: c.b.dc.ID}).To_NearestDc(), nil
}

// HelpGetAppConfig61E3F854: an empty JSON object (no client settings).
func (c *configuration) HelpGetAppConfig61E3F854(ctx context.Context, _ *mtproto.TLHelpGetAppConfig61E3F854) (*mtproto.Help_AppConfig, error) {
	return mtproto.MakeTLHelpAppConfig(&mtproto.Help_AppConfig{
		Hash:   1,
		Config: mtproto.MakeTLJsonObject(&mtproto.JSONValue{}).To_JSONValue(),
	}).To_Help_AppConfig(), nil
}

type authorization struct {
	mtproto.UnimplementedRPCAuthorizationServer
	b *bff
}

func (a *authorization) AuthSendCode(ctx context.Context, in *mtproto.TLAuthSendCode) (*mtproto.Auth_SentCode, error) {
	if userIDOfPhone(in.GetPhoneNumber()) == 0 {
		return nil, mtproto.ErrPhoneNumberInvalid
	}
	h := make([]byte, 8)
	_, _ = rand.Read(h)
	hash := hex.EncodeToString(h)
	a.b.mu.Lock()
	a.b.codes[hash] = in.GetPhoneNumber()
	a.b.mu.Unlock()
	return mtproto.MakeTLAuthSentCode(&mtproto.Auth_SentCode{
		Type:          mtproto.MakeTLAuthSentCodeTypeApp(&mtproto.Auth_SentCodeType{Length: int32(len(loginCode))}).To_Auth_SentCodeType(),
		PhoneCodeHash: hash,
	}).To_Auth_SentCode(), nil
}

// AuthSignIn checks the code, then binds the caller's permanent key to the phone's user as
// Teamgram's auth.signIn does (authsession.bindAuthKeyUser with the metadata's perm_auth_key_id).
func (a *authorization) AuthSignIn(ctx context.Context, in *mtproto.TLAuthSignIn) (*mtproto.Auth_Authorization, error) {
	a.b.mu.Lock()
	phone, ok := a.b.codes[in.GetPhoneCodeHash()]
	a.b.mu.Unlock()
	if !ok || userIDOfPhone(phone) != userIDOfPhone(in.GetPhoneNumber()) {
		return nil, mtproto.ErrPhoneCodeExpired
	}
	code := in.GetPhoneCode_STRING()
	if v := in.GetPhoneCode_FLAGSTRING(); v != nil {
		code = v.GetValue()
	}
	if code != loginCode {
		return nil, mtproto.ErrPhoneCodeInvalid
	}
	m := md(ctx)
	perm := m.GetPermAuthKeyId()
	if perm == 0 {
		perm = m.GetAuthId()
	}
	userID := userIDOfPhone(phone)
	// Teamgram's auth.signIn goes on when the binding fails (it ignores the call's error)
	if _, err := a.b.auth.BindAuthKeyUser(ctx, perm, userID); err != nil {
		log.Printf("authsession.bindAuthKeyUser(%d, %d): %v", perm, userID, err)
	}
	return mtproto.MakeTLAuthAuthorization(&mtproto.Auth_Authorization{User: makeUser(userID, true)}).To_Auth_Authorization(), nil
}

// AuthLogOut unbinds the caller's permanent key from its user as Teamgram's auth.logOut does
// (authsession.unbindAuthKeyUser with the metadata's perm_auth_key_id and user_id).
func (a *authorization) AuthLogOut(ctx context.Context, _ *mtproto.TLAuthLogOut) (*mtproto.Auth_LoggedOut, error) {
	self, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.b.auth.UnbindAuthKeyUser(ctx, md(ctx).GetPermAuthKeyId(), self); err != nil {
		log.Printf("authsession.unbindAuthKeyUser: %v", err)
		return nil, mtproto.ErrInternalServerError
	}
	token := make([]byte, 64)
	_, _ = rand.Read(token)
	return mtproto.MakeTLAuthLoggedOut(&mtproto.Auth_LoggedOut{FutureAuthToken: token}).To_Auth_LoggedOut(), nil
}
