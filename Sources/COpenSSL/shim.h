#ifndef SECURECHAT_COPENSSL_SHIM_H
#define SECURECHAT_COPENSSL_SHIM_H
/* SHA256_Init and friends are deprecated in OpenSSL 3 but not going away in 3.x; they are used
   for one hot path only (securechat_sha256_concat below). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/err.h>
#include <openssl/sha.h>

/* SHA-256(a || b) into out (32 bytes), through OpenSSL's low-level SHA-256. The session log's
   key chain runs this once per entry, where the EVP layer's per-call overhead would be most of
   the cost. The context held key material, so it is cleansed. Returns 1 on success. */
static inline int securechat_sha256_concat(const void *a, size_t a_len, const void *b, size_t b_len,
                                           unsigned char *out) {
  SHA256_CTX context;
  int ok = SHA256_Init(&context) && SHA256_Update(&context, a, a_len) && SHA256_Update(&context, b, b_len)
           && SHA256_Final(out, &context);
  OPENSSL_cleanse(&context, sizeof context);
  return ok;
}
/* SHA-256(a || b || c) into out (32 bytes): the public log's chain, once per entry (no key
   material, but the same low-overhead path). Returns 1 on success. */
static inline int securechat_sha256_concat3(const void *a, size_t a_len, const void *b, size_t b_len,
                                            const void *c, size_t c_len, unsigned char *out) {
  SHA256_CTX context;
  int ok = SHA256_Init(&context) && SHA256_Update(&context, a, a_len) && SHA256_Update(&context, b, b_len)
           && SHA256_Update(&context, c, c_len) && SHA256_Final(out, &context);
  OPENSSL_cleanse(&context, sizeof context);
  return ok;
}
#endif
