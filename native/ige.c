/*
 * mtgate native AES-256-IGE (N-API, plain C).
 *
 * IGE is serial in both directions (each block depends on the previous ciphertext and plaintext),
 * so one buffer runs at the latency of the AES rounds, like CBC encryption. The loop below keeps
 * only one XOR plus the 14 AES rounds on the dependency chain:
 *   encrypt: c_i = AES(p_i ^ c_{i-1}) ^ p_{i-1}
 *            state = (p_i ^ rk0) ^ c_{i-1};  c_i = aesenclast(state, rk14 ^ p_{i-1})
 *   decrypt: p_i = AES^-1(c_i ^ p_{i-1}) ^ c_{i-1}
 *            state = (c_i ^ dk0) ^ p_{i-1};  p_i = aesdeclast(state, dk14 ^ c_{i-1})
 * IV layout (MTProto): iv[0:16] is the "previous ciphertext", iv[16:32] the "previous plaintext"
 * for encryption; for decryption iv[0:16] is the previous ciphertext and iv[16:32] the previous
 * plaintext as well (the same 32 bytes decrypt what they encrypted).
 *
 * Exports:
 *   aesni: boolean                       true when the CPU has AES-NI (otherwise the functions throw)
 *   encrypt(src, dst, key, iv): void     src, dst: Uint8Array of equal length (multiple of 16);
 *   decrypt(src, dst, key, iv): void     dst may be src itself (in place) but must not partially
 *                                        overlap it; key: 32 bytes; iv: 32 bytes.
 *
 * MTProto 2.0 message crypto in one call (SHA-256 from the OpenSSL that node links statically and
 * exports to addons; the caller does the framing and the length/padding checks):
 *   msgEncrypt(authKey, x, packet): void
 *       authKey: 256 bytes; x: 0 (client→server) or 8 (server→client); packet: 24 header bytes
 *       followed by plaintext+padding (length multiple of 16, at least 16). Computes msg_key_large
 *       over auth_key[88+x:120+x] + packet[24:], writes msg_key to packet[8:24], derives aes_key/iv
 *       and encrypts packet[24:] in place. packet[0:8] (auth_key_id) is left to the caller.
 *   msgDecrypt(authKey, x, packet, out, msgKeyLarge): boolean
 *       decrypts packet[24:] into out (same length, must not overlap packet), writes the 32-byte
 *       SHA-256 of auth_key[88+x:120+x] + out into msgKeyLarge and returns whether its middle
 *       equals packet[8:24] (constant-time compare).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/sha.h>

#if defined(__x86_64__) || defined(__i386__)
#define MTG_X86 1
#include <cpuid.h>
#include <immintrin.h>
#define MTG_TARGET __attribute__((target("aes,sse2")))
#endif

#ifdef MTG_X86

static int cpu_has_aesni(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  return (c & bit_AES) != 0 && (d & bit_SSE2) != 0;
}

MTG_TARGET static inline __m128i expand_step(__m128i k, __m128i t) {
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, t);
}

#define EXPAND_A(i, rcon) \
  rk[i] = expand_step(rk[(i) - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], rcon), 0xff))
#define EXPAND_B(i) \
  rk[i] = expand_step(rk[(i) - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], 0x00), 0xaa))

MTG_TARGET static void expand_key(const uint8_t *key, __m128i rk[15]) {
  rk[0] = _mm_loadu_si128((const __m128i *)key);
  rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
  EXPAND_A(2, 0x01); EXPAND_B(3);
  EXPAND_A(4, 0x02); EXPAND_B(5);
  EXPAND_A(6, 0x04); EXPAND_B(7);
  EXPAND_A(8, 0x08); EXPAND_B(9);
  EXPAND_A(10, 0x10); EXPAND_B(11);
  EXPAND_A(12, 0x20); EXPAND_B(13);
  EXPAND_A(14, 0x40);
}

MTG_TARGET static void ige_encrypt_aesni(const uint8_t *src, uint8_t *dst, size_t len, const uint8_t *key,
                                         const uint8_t *iv) {
  __m128i rk[15];
  expand_key(key, rk);
  __m128i cprev = _mm_loadu_si128((const __m128i *)iv);
  __m128i pprev = _mm_loadu_si128((const __m128i *)(iv + 16));
  for (size_t off = 0; off < len; off += 16) {
    __m128i p = _mm_loadu_si128((const __m128i *)(src + off));
    __m128i last = _mm_xor_si128(rk[14], pprev);
    __m128i s = _mm_xor_si128(_mm_xor_si128(p, rk[0]), cprev);
    s = _mm_aesenc_si128(s, rk[1]);
    s = _mm_aesenc_si128(s, rk[2]);
    s = _mm_aesenc_si128(s, rk[3]);
    s = _mm_aesenc_si128(s, rk[4]);
    s = _mm_aesenc_si128(s, rk[5]);
    s = _mm_aesenc_si128(s, rk[6]);
    s = _mm_aesenc_si128(s, rk[7]);
    s = _mm_aesenc_si128(s, rk[8]);
    s = _mm_aesenc_si128(s, rk[9]);
    s = _mm_aesenc_si128(s, rk[10]);
    s = _mm_aesenc_si128(s, rk[11]);
    s = _mm_aesenc_si128(s, rk[12]);
    s = _mm_aesenc_si128(s, rk[13]);
    cprev = _mm_aesenclast_si128(s, last);
    _mm_storeu_si128((__m128i *)(dst + off), cprev);
    pprev = p;
  }
  /* wipe the key schedule */
  volatile __m128i *vrk = rk;
  for (int i = 0; i < 15; i++) vrk[i] = _mm_setzero_si128();
}

MTG_TARGET static void ige_decrypt_aesni(const uint8_t *src, uint8_t *dst, size_t len, const uint8_t *key,
                                         const uint8_t *iv) {
  __m128i rk[15], dk[15];
  expand_key(key, rk);
  dk[0] = rk[14];
  for (int i = 1; i < 14; i++) dk[i] = _mm_aesimc_si128(rk[14 - i]);
  dk[14] = rk[0];
  __m128i cprev = _mm_loadu_si128((const __m128i *)iv);
  __m128i pprev = _mm_loadu_si128((const __m128i *)(iv + 16));
  for (size_t off = 0; off < len; off += 16) {
    __m128i c = _mm_loadu_si128((const __m128i *)(src + off));
    __m128i last = _mm_xor_si128(dk[14], cprev);
    __m128i s = _mm_xor_si128(_mm_xor_si128(c, dk[0]), pprev);
    s = _mm_aesdec_si128(s, dk[1]);
    s = _mm_aesdec_si128(s, dk[2]);
    s = _mm_aesdec_si128(s, dk[3]);
    s = _mm_aesdec_si128(s, dk[4]);
    s = _mm_aesdec_si128(s, dk[5]);
    s = _mm_aesdec_si128(s, dk[6]);
    s = _mm_aesdec_si128(s, dk[7]);
    s = _mm_aesdec_si128(s, dk[8]);
    s = _mm_aesdec_si128(s, dk[9]);
    s = _mm_aesdec_si128(s, dk[10]);
    s = _mm_aesdec_si128(s, dk[11]);
    s = _mm_aesdec_si128(s, dk[12]);
    s = _mm_aesdec_si128(s, dk[13]);
    pprev = _mm_aesdeclast_si128(s, last);
    _mm_storeu_si128((__m128i *)(dst + off), pprev);
    cprev = c;
  }
  volatile __m128i *vrk = rk, *vdk = dk;
  for (int i = 0; i < 15; i++) vrk[i] = vdk[i] = _mm_setzero_si128();
}

#endif /* MTG_X86 */

static int g_aesni = 0;

/* Reads a Uint8Array argument; returns 0 and throws on failure. */
static int get_bytes(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  napi_typedarray_type type;
  void *ptr = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &ptr, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *data = (uint8_t *)ptr;
  return 1;
}

typedef void (*ige_fn)(const uint8_t *, uint8_t *, size_t, const uint8_t *, const uint8_t *);

static napi_value run(napi_env env, napi_callback_info info, ige_fn fn) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 4) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_COUNT", "expected (src, dst, key, iv)");
    return NULL;
  }
  if (fn == NULL) {
    napi_throw_error(env, "ERR_NO_AESNI", "AES-NI is not available on this CPU");
    return NULL;
  }
  uint8_t *src, *dst, *key, *iv;
  size_t src_len, dst_len, key_len, iv_len;
  if (!get_bytes(env, argv[0], "src", &src, &src_len)) return NULL;
  if (!get_bytes(env, argv[1], "dst", &dst, &dst_len)) return NULL;
  if (!get_bytes(env, argv[2], "key", &key, &key_len)) return NULL;
  if (!get_bytes(env, argv[3], "iv", &iv, &iv_len)) return NULL;
  if (key_len != 32) {
    napi_throw_range_error(env, "ERR_IGE_KEY", "IGE key must be 32 bytes");
    return NULL;
  }
  if (iv_len != 32) {
    napi_throw_range_error(env, "ERR_IGE_IV", "IGE iv must be 32 bytes");
    return NULL;
  }
  if (src_len % 16 != 0) {
    napi_throw_range_error(env, "ERR_IGE_LENGTH", "IGE data length must be a multiple of 16");
    return NULL;
  }
  if (dst_len != src_len) {
    napi_throw_range_error(env, "ERR_IGE_LENGTH", "IGE dst must have the same length as src");
    return NULL;
  }
  if (src_len == 0) return NULL;
  if (dst != src && dst < src + src_len && src < dst + dst_len) {
    napi_throw_range_error(env, "ERR_IGE_OVERLAP", "IGE dst must be src itself or not overlap it");
    return NULL;
  }
  /* key or iv may alias the data (e.g. taken from the same buffer): copy them first */
  uint8_t k[32], v[32];
  memcpy(k, key, 32);
  memcpy(v, iv, 32);
  fn(src, dst, src_len, k, v);
  volatile uint8_t *vk = k;
  for (int i = 0; i < 32; i++) vk[i] = 0;
  return NULL;
}

static ige_fn pick(int encrypt) {
#ifdef MTG_X86
  if (g_aesni) return encrypt ? ige_encrypt_aesni : ige_decrypt_aesni;
#endif
  (void)encrypt;
  return NULL;
}

static void sha256_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32]) {
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, a, alen);
  SHA256_Update(&c, b, blen);
  SHA256_Final(out, &c);
  OPENSSL_cleanse(&c, sizeof c);
}

/* aes_key / aes_iv from auth_key and msg_key (MTProto 2.0 KDF). */
static void kdf(const uint8_t *auth_key, int x, const uint8_t msg_key[16], uint8_t aes_key[32], uint8_t aes_iv[32]) {
  uint8_t a[32], b[32];
  sha256_2(msg_key, 16, auth_key + x, 36, a);
  sha256_2(auth_key + 40 + x, 36, msg_key, 16, b);
  memcpy(aes_key, a, 8);
  memcpy(aes_key + 8, b + 8, 16);
  memcpy(aes_key + 24, a + 24, 8);
  memcpy(aes_iv, b, 8);
  memcpy(aes_iv + 8, a + 8, 16);
  memcpy(aes_iv + 24, b + 24, 8);
  OPENSSL_cleanse(a, 32);
  OPENSSL_cleanse(b, 32);
}

/* Common argument parsing for msgEncrypt/msgDecrypt: (authKey, x, packet, ...). */
static int msg_args(napi_env env, napi_value *argv, uint8_t **key, int *x, uint8_t **packet, size_t *packet_len) {
  size_t key_len;
  if (!get_bytes(env, argv[0], "authKey", key, &key_len)) return 0;
  if (key_len != 256) {
    napi_throw_range_error(env, "ERR_AUTH_KEY", "auth_key must be 256 bytes");
    return 0;
  }
  int32_t xv;
  if (napi_get_value_int32(env, argv[1], &xv) != napi_ok || (xv != 0 && xv != 8)) {
    napi_throw_range_error(env, "ERR_MSG_X", "x must be 0 or 8");
    return 0;
  }
  *x = xv;
  if (!get_bytes(env, argv[2], "packet", packet, packet_len)) return 0;
  if (*packet_len < 24 + 16 || (*packet_len - 24) % 16 != 0) {
    napi_throw_range_error(env, "ERR_MSG_LENGTH", "packet must be 24 bytes + a non-empty multiple of 16");
    return 0;
  }
  return 1;
}

static napi_value js_msg_encrypt(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_COUNT", "expected (authKey, x, packet)");
    return NULL;
  }
  ige_fn fn = pick(1);
  if (fn == NULL) {
    napi_throw_error(env, "ERR_NO_AESNI", "AES-NI is not available on this CPU");
    return NULL;
  }
  uint8_t *key, *packet;
  int x;
  size_t len;
  if (!msg_args(env, argv, &key, &x, &packet, &len)) return NULL;
  uint8_t *body = packet + 24;
  size_t body_len = len - 24;
  if (packet < key + 256 && key < packet + len) {
    napi_throw_range_error(env, "ERR_MSG_OVERLAP", "packet must not overlap authKey");
    return NULL;
  }
  uint8_t mkl[32], aes_key[32], aes_iv[32];
  sha256_2(key + 88 + x, 32, body, body_len, mkl);
  memcpy(packet + 8, mkl + 8, 16);
  kdf(key, x, mkl + 8, aes_key, aes_iv);
  fn(body, body, body_len, aes_key, aes_iv);
  OPENSSL_cleanse(aes_key, 32);
  OPENSSL_cleanse(aes_iv, 32);
  return NULL;
}

static napi_value js_msg_decrypt(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 5) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_COUNT", "expected (authKey, x, packet, out, msgKeyLarge)");
    return NULL;
  }
  ige_fn fn = pick(0);
  if (fn == NULL) {
    napi_throw_error(env, "ERR_NO_AESNI", "AES-NI is not available on this CPU");
    return NULL;
  }
  uint8_t *key, *packet, *out, *mkl_out;
  int x;
  size_t len, out_len, mkl_len;
  if (!msg_args(env, argv, &key, &x, &packet, &len)) return NULL;
  if (!get_bytes(env, argv[3], "out", &out, &out_len)) return NULL;
  if (!get_bytes(env, argv[4], "msgKeyLarge", &mkl_out, &mkl_len)) return NULL;
  if (out_len != len - 24) {
    napi_throw_range_error(env, "ERR_MSG_LENGTH", "out must be as long as the encrypted part");
    return NULL;
  }
  if (mkl_len != 32) {
    napi_throw_range_error(env, "ERR_MSG_LENGTH", "msgKeyLarge must be 32 bytes");
    return NULL;
  }
  if ((out < packet + len && packet < out + out_len) || (out < key + 256 && key < out + out_len)) {
    napi_throw_range_error(env, "ERR_MSG_OVERLAP", "out must not overlap packet or authKey");
    return NULL;
  }
  uint8_t msg_key[16], mkl[32], aes_key[32], aes_iv[32];
  memcpy(msg_key, packet + 8, 16);
  kdf(key, x, msg_key, aes_key, aes_iv);
  fn(packet + 24, out, out_len, aes_key, aes_iv);
  OPENSSL_cleanse(aes_key, 32);
  OPENSSL_cleanse(aes_iv, 32);
  sha256_2(key + 88 + x, 32, out, out_len, mkl);
  memcpy(mkl_out, mkl, 32);
  napi_value result;
  napi_get_boolean(env, CRYPTO_memcmp(mkl + 8, msg_key, 16) == 0, &result);
  return result;
}

static napi_value js_encrypt(napi_env env, napi_callback_info info) {
#ifdef MTG_X86
  return run(env, info, g_aesni ? ige_encrypt_aesni : NULL);
#else
  return run(env, info, NULL);
#endif
}

static napi_value js_decrypt(napi_env env, napi_callback_info info) {
#ifdef MTG_X86
  return run(env, info, g_aesni ? ige_decrypt_aesni : NULL);
#else
  return run(env, info, NULL);
#endif
}

NAPI_MODULE_INIT() {
#ifdef MTG_X86
  g_aesni = cpu_has_aesni();
#endif
  napi_value fn_enc, fn_dec, fn_menc, fn_mdec, has;
  if (napi_create_function(env, "msgEncrypt", NAPI_AUTO_LENGTH, js_msg_encrypt, NULL, &fn_menc) != napi_ok) return NULL;
  if (napi_create_function(env, "msgDecrypt", NAPI_AUTO_LENGTH, js_msg_decrypt, NULL, &fn_mdec) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "msgEncrypt", fn_menc) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "msgDecrypt", fn_mdec) != napi_ok) return NULL;
  if (napi_create_function(env, "encrypt", NAPI_AUTO_LENGTH, js_encrypt, NULL, &fn_enc) != napi_ok) return NULL;
  if (napi_create_function(env, "decrypt", NAPI_AUTO_LENGTH, js_decrypt, NULL, &fn_dec) != napi_ok) return NULL;
  if (napi_get_boolean(env, g_aesni != 0, &has) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "encrypt", fn_enc) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decrypt", fn_dec) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "aesni", has) != napi_ok) return NULL;
  return exports;
}
