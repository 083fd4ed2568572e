/*
 * smime - the OpenSSL CMS operations on one MIME entity: sign, encrypt,
 * decrypt, verify.
 *
 * An "entity" is the Content-* header fields, an empty line and the body,
 * in canonical CRLF form: what S/MIME signs and encrypts.  Every function
 * produces a new entity into an mbuf.  Input from outside (what decrypt
 * and verify get) may be anything: they return a status, never crash.
 */
#ifndef CF_SMIME_H
#define CF_SMIME_H

#include <stddef.h>

#include <openssl/x509.h>

#include "addr.h"
#include "certstore.h"
#include "config.h"
#include "engine.h"
#include "mime.h"

struct spool;

/* What an entity is, from its Content-Type. */
enum smime_kind {
    SMIME_PLAIN,			/* not S/MIME */
    SMIME_SIGNED_DETACHED,		/* multipart/signed, pkcs7-signature */
    SMIME_SIGNED_OPAQUE,		/* pkcs7-mime; smime-type=signed-data */
    SMIME_ENVELOPED,			/* pkcs7-mime; enveloped-data or authEnveloped-data */
    SMIME_OTHER,			/* pkcs7-mime of another or unknown type */
};

enum smime_kind smime_classify(const char *content_type);

/* Sign ENTITY with SIGNER (its chain included) using DIGEST; OPAQUE picks
 * application/pkcs7-mime signed-data instead of multipart/signed.  0 or
 * -1 (logged). */
int     smime_sign(const unsigned char *entity, size_t len, const struct cs_key *signer,
		   enum cf_digest digest, int opaque, struct mbuf *out);

/* The same, replacing ENTITY with the signed entity; a detached
 * signature is built around the entity where it is, without a copy. */
int     smime_sign_entity(struct mbuf *entity, const struct cs_key *signer,
			  enum cf_digest digest, int opaque);

/* Encrypt ENTITY to every certificate of CERTS.  CBC ciphers give
 * enveloped-data, GCM authEnveloped-data; OAEP applies to RSA recipients.
 * 0 or -1 (logged). */
int     smime_encrypt(const unsigned char *entity, size_t len, X509 *const *certs,
		      size_t ncerts, enum cf_cipher cipher, enum cf_key_transport kt,
		      struct mbuf *out);

/* The same, writing only the base64 body into BODY (a spool: large
 * results go to its file, not to memory).  The entity's header fields
 * are those of smime_encrypt: Content-Type application/pkcs7-mime with
 * smime-type *SMIME_TYPE and name=smime.p7m, Content-Transfer-Encoding
 * base64, Content-Disposition attachment; filename=smime.p7m. */
int     smime_encrypt_body(const unsigned char *entity, size_t len, X509 *const *certs,
			   size_t ncerts, enum cf_cipher cipher, enum cf_key_transport kt,
			   struct spool *body, const char **smime_type);

/*
 * The same for an entity too large for memory: its header block HEAD
 * (CRLF, ending with the empty line) and its canonical BODY in a spool.
 * The content is read from BODY in pieces, never held whole.
 * smime_sign_spool appends the signed entity's header block to OUT_HEAD
 * and its body to OUT; smime_encrypt_spool writes the base64 body to OUT
 * (the header fields are those of smime_encrypt_body).  0 or -1 (logged).
 */
int     smime_sign_spool(const unsigned char *head, size_t hlen, struct spool *body,
			 const struct cs_key *signer, enum cf_digest digest, int opaque,
			 struct mbuf *out_head, struct spool *out);
int     smime_encrypt_spool(const unsigned char *head, size_t hlen, struct spool *body,
			    X509 *const *certs, size_t ncerts, enum cf_cipher cipher,
			    enum cf_key_transport kt, struct spool *out,
			    const char **smime_type);

/*
 * Decrypt the enveloped ENTITY with the first of KEYS whose certificate
 * matches a RecipientInfo (no trial decryption).  ED_DECRYPTED with the
 * inner entity in OUT, ED_NO_KEY when none matches, ED_FAILED when the
 * CMS cannot be parsed or decrypted.  WHY gets a short reason.
 */
enum engine_decrypt smime_decrypt(const unsigned char *entity, size_t len,
				  const struct cs_key *keys, size_t nkeys,
				  struct mbuf *out, char *why, size_t whylen);

/* The same, releasing ENTITY (emptied) as soon as it is decoded, so the
 * message is not held as text, DER and plaintext at once. */
enum engine_decrypt smime_decrypt_entity(struct mbuf *entity, const struct cs_key *keys,
					 size_t nkeys, struct mbuf *out, char *why,
					 size_t whylen);

struct smime_verify_result {
    enum engine_verify status;
    char    signer[CF_ADDR_MAX + 1];	/* first address of the signer cert */
    char    reason[128];
    X509   *signer_cert;		/* a reference, or NULL */
    struct mbuf content;		/* the signed entity (CRLF), or empty ... */
    const unsigned char *content_ref;	/* ... when it is canonical inside the
					 * verified entity: it is here */
    size_t  content_ref_len;
};

/* The signed entity of RES wherever it is (NULL, 0 when none). */
const unsigned char *smime_verify_content(const struct smime_verify_result *res, size_t *len);

/*
 * Verify the signed ENTITY (detached or opaque) against STORE (may be
 * NULL: then every signer is untrusted).  Fills RES (always: release it
 * with smime_verify_result_free).  smime_verify_content() gives the signed
 * entity whenever it could be extracted, also when the signature is bad;
 * it may point into ENTITY, which must then outlive its use.
 */
void    smime_verify(const unsigned char *entity, size_t len, X509_STORE *store,
		     struct smime_verify_result *res);
void    smime_verify_result_free(struct smime_verify_result *res);

#endif
